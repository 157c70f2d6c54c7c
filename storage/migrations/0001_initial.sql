-- The first schema: every aggregate named in the design.
-- Times are UTC text in the fixed form YYYY-MM-DDTHH:MM:SS.ffffffZ, so text order is time order.
-- Never edit an applied migration: add a new numbered file instead.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    line_user_id TEXT NOT NULL UNIQUE,
    display_name TEXT,
    display_name_fetched_at TEXT,
    following INTEGER NOT NULL DEFAULT 1 CHECK (following IN (0, 1)),
    followed_at TEXT,
    unfollowed_at TEXT,
    privacy_agreed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE conversations (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    flow TEXT NOT NULL,
    step TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    nudged_at TEXT
);

CREATE TABLE case_numbers (
    year INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL
);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('new', 'in_progress', 'closed')),
    assignee TEXT,
    requester_type TEXT NOT NULL,
    organisation TEXT,
    person_name TEXT NOT NULL,
    contact_method TEXT NOT NULL CHECK (contact_method IN ('line', 'phone', 'email')),
    phone TEXT,
    email TEXT,
    body TEXT NOT NULL,
    preferred_dates TEXT,
    slack_channel TEXT,
    slack_ts TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    first_response_at TEXT,
    closed_at TEXT
);
CREATE INDEX cases_by_user ON cases (user_id, status);
CREATE INDEX cases_by_status ON cases (status, created_at);

CREATE TABLE case_messages (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('citizen', 'reply', 'note', 'system')),
    author TEXT,
    kind TEXT NOT NULL DEFAULT 'text',
    body TEXT NOT NULL DEFAULT '',
    line_message_id TEXT,
    slack_ts TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX case_messages_by_case ON case_messages (case_id, id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    venue TEXT NOT NULL DEFAULT '',
    starts_at TEXT NOT NULL,
    ends_at TEXT,
    capacity INTEGER CHECK (capacity IS NULL OR capacity >= 0),
    registration_deadline TEXT,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'cancelled')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX events_by_start ON events (starts_at);

CREATE TABLE registrations (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('registered', 'waitlisted', 'cancelled')),
    party_size INTEGER NOT NULL DEFAULT 1 CHECK (party_size >= 1),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (event_id, user_id)
);

CREATE TABLE reminders (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'cancelled')),
    event_id INTEGER REFERENCES events (id) ON DELETE CASCADE,
    registration_id INTEGER REFERENCES registrations (id) ON DELETE CASCADE,
    case_id INTEGER REFERENCES cases (id) ON DELETE CASCADE,
    notice_id INTEGER REFERENCES notices (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    claimed_at TEXT
);
CREATE INDEX reminders_due ON reminders (status, due_at);

-- Every inbound platform event, stored before it is acknowledged. (source, event_id) deduplicates
-- LINE redeliveries and Slack retries; order_key keeps one user's events in arrival order.
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    order_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    received_at TEXT NOT NULL,
    processed_at TEXT,
    UNIQUE (source, event_id)
);
CREATE INDEX inbox_pending ON inbox (status, id);

-- Every outgoing message, written in the same transaction as the change that caused it.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    order_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    reply_token TEXT,
    reply_token_expires_at TEXT,
    retry_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'dead', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    case_id INTEGER REFERENCES cases (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_order ON outbox (order_key, status, id);

CREATE TABLE ward_centers (
    id INTEGER PRIMARY KEY,
    ward TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    slack_channel TEXT,
    line_group_id TEXT
);

CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    meeting_at TEXT,
    answer_by TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE notice_recipients (
    notice_id INTEGER NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    ward_center_id INTEGER NOT NULL REFERENCES ward_centers (id) ON DELETE CASCADE,
    answer TEXT CHECK (answer IS NULL OR answer IN ('attend', 'absent')),
    answered_at TEXT,
    answered_by TEXT,
    PRIMARY KEY (notice_id, ward_center_id)
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_subject ON audit_log (subject_type, subject_id, id);
