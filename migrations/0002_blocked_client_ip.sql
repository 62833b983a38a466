DROP INDEX `blocked_clients_kind_value`;--> statement-breakpoint
ALTER TABLE `blocked_clients` ADD `ip` text;--> statement-breakpoint
CREATE UNIQUE INDEX `blocked_clients_kind_value_ip` ON `blocked_clients` (`kind`,`value`,(CASE WHEN ip IS NULL THEN '' ELSE ip END));