-- Console sign-ins (Console/ConsoleSessions.cs, docs/decisions/0017). The browser's cookie holds a random token; only its
-- SHA-256 is stored, so a copy of this table opens no session. No API key is stored, nor anything to test a guess of one
-- against: key_mac is HMAC-SHA256 keyed by the token (which only the browser has) over the key the session was opened
-- with, so a session ends when its key leaves the configuration. Rows live in the database so that every host behind a
-- balancer knows every session, and a sign-out ends it everywhere at once.
create table if not exists console_sessions (
    token_hash   bytea primary key,
    key_mac      bytea not null,
    csrf_token   text not null,                 -- the synchronizer token every form of this session carries
    created_at   timestamptz not null,
    last_seen_at timestamptz not null,
    expires_at   timestamptz not null           -- created_at + Ledger:Console:SessionLifetime, whatever the activity
);

create index if not exists console_sessions_expiry on console_sessions (expires_at);
