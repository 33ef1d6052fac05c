-- fastify-chat's PostgreSQL store, schema version 3: rooms as records, their members with roles,
-- and invites.
--
-- Applied after 002_read_markers.sql, on start or by hand:
--
--   psql "$DATABASE_URL" -v schema=chat -f node_modules/fastify-chat/sql/003_rooms.sql
--
-- Every statement is idempotent. Times are ms since the epoch (as the plugin's frames carry them).

-- What a room is. A room joined by name only has no row (it is public).
CREATE TABLE IF NOT EXISTS :"schema".room_records (
  room text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('public', 'private', 'group', 'dm')),
  title text,
  topic text,
  meta jsonb,
  created_by text,
  created_at bigint NOT NULL,
  archived boolean NOT NULL DEFAULT false,
  history text NOT NULL DEFAULT 'shared' CHECK (history IN ('shared', 'joined'))
);

-- Who belongs to a room while away, with which role; n is the order they joined in.
CREATE TABLE IF NOT EXISTS :"schema".room_members (
  room text NOT NULL,
  user_id text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
  joined_seq bigint NOT NULL,
  joined_at bigint NOT NULL,
  n bigserial NOT NULL,
  PRIMARY KEY (room, user_id)
);
CREATE INDEX IF NOT EXISTS room_members_by_order ON :"schema".room_members (room, n);
-- A user's rooms in code-unit order of their names (COLLATE "C": as the plugin sorts them).
CREATE INDEX IF NOT EXISTS room_members_by_user ON :"schema".room_members (user_id, room COLLATE "C");

-- Pending invites (joining uses one up; declining drops it).
CREATE TABLE IF NOT EXISTS :"schema".room_invites (
  room text NOT NULL,
  user_id text NOT NULL,
  by_user text,
  at bigint NOT NULL,
  PRIMARY KEY (room, user_id)
);
CREATE INDEX IF NOT EXISTS room_invites_by_user ON :"schema".room_invites (user_id, at DESC);

INSERT INTO :"schema".migrations (version) VALUES (3) ON CONFLICT DO NOTHING;
