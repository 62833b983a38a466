CREATE TABLE `unauthorized_clients` (
	`client_id` text PRIMARY KEY NOT NULL,
	`username` text,
	`password_provided` integer NOT NULL,
	`tls_used` integer NOT NULL,
	`ip` text NOT NULL,
	`reason_code` text NOT NULL,
	`reason` text NOT NULL,
	`attempts` integer DEFAULT 1 NOT NULL,
	`first_seen` integer NOT NULL,
	`last_update` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `unauthorized_clients_last_update` ON `unauthorized_clients` (`last_update`);