CREATE TABLE `acl_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`principal_type` text NOT NULL,
	`username` text,
	`access` text NOT NULL,
	`topic` text NOT NULL,
	`position` integer NOT NULL,
	`comment` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `acl_rules_username` ON `acl_rules` (`username`);--> statement-breakpoint
CREATE INDEX `acl_rules_position` ON `acl_rules` (`position`);--> statement-breakpoint
CREATE TABLE `admin_users` (
	`id` text PRIMARY KEY NOT NULL,
	`username` text NOT NULL,
	`password_hash` text NOT NULL,
	`role` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_login_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admin_users_username_unique` ON `admin_users` (`username`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`prefix` text NOT NULL,
	`role` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_hash_unique` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`resource` text NOT NULL,
	`resource_id` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `audit_log_at` ON `audit_log` (`at`);--> statement-breakpoint
CREATE TABLE `auth_providers` (
	`type` text PRIMARY KEY NOT NULL,
	`enabled` integer NOT NULL,
	`priority` integer NOT NULL,
	`config` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `blocked_clients` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`value` text NOT NULL,
	`description` text,
	`source` text NOT NULL,
	`expires_at` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `blocked_clients_kind_value` ON `blocked_clients` (`kind`,`value`);--> statement-breakpoint
CREATE INDEX `blocked_clients_expires_at` ON `blocked_clients` (`expires_at`);--> statement-breakpoint
CREATE TABLE `broker_settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `certificate_revocations` (
	`id` text PRIMARY KEY NOT NULL,
	`serial` text,
	`issuer_dn` text,
	`fingerprint_sha256` text,
	`source` text NOT NULL,
	`crl_id` text,
	`description` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `certificate_revocations_serial` ON `certificate_revocations` (`serial`);--> statement-breakpoint
CREATE INDEX `certificate_revocations_fingerprint` ON `certificate_revocations` (`fingerprint_sha256`);--> statement-breakpoint
CREATE TABLE `config_version` (
	`id` integer PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `credentials` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`name` text NOT NULL,
	`client_id` text,
	`username` text,
	`password_hash` text,
	`cn_pattern` text,
	`cn_is_regex` integer DEFAULT false NOT NULL,
	`scram_mechanism` text,
	`scram_salt` text,
	`scram_iterations` integer,
	`scram_stored_key` text,
	`scram_server_key` text,
	`allowed_client_ids` text,
	`rules` text,
	`cn_rules` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `credentials_type` ON `credentials` (`type`);--> statement-breakpoint
CREATE INDEX `credentials_username` ON `credentials` (`username`);--> statement-breakpoint
CREATE INDEX `credentials_client_id` ON `credentials` (`client_id`);--> statement-breakpoint
CREATE TABLE `login_attempts` (
	`key` text PRIMARY KEY NOT NULL,
	`failures` integer NOT NULL,
	`window_start` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `config_version` (`id`, `version`, `updated_at`) VALUES (1, 1, 0);
