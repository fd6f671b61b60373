-- Messages by time, for the tenant's messages-per-day quota (hosting/quota.rs).
CREATE INDEX messages_by_time ON messages (at);
