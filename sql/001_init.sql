-- fastify-chat's PostgreSQL store, schema version 1.
--
-- postgresStore() applies this file on start (under an advisory lock, once however many
-- processes start together) unless it is given `migrate: false`. To apply it yourself:
--
--   psql "$DATABASE_URL" -v schema=chat -f node_modules/fastify-chat/sql/001_init.sql
--
-- Every statement is idempotent. Times are timestamptz; the chat speaks milliseconds.

CREATE SCHEMA IF NOT EXISTS :"schema";

CREATE TABLE IF NOT EXISTS :"schema".migrations (
  version integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row: a random token made when the schema was, from which each room's epoch is derived.
-- A database made anew (or restored elsewhere) gives every room a new epoch, so that no client
-- believes it can resume across it.
CREATE TABLE IF NOT EXISTS :"schema".store (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  token text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text)
);
INSERT INTO :"schema".store DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Each room's newest seq (messages, edits and deletions share it) and epoch. Locked while a
-- room's seqs are given out: that lock orders the room's events across every process.
CREATE TABLE IF NOT EXISTS :"schema".rooms (
  room text PRIMARY KEY,
  epoch text NOT NULL,
  seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Every message, at its latest version. A deleted one stays as a tombstone: content '' and meta
-- NULL (gone, not hidden), deleted_at set. `ref` and `digest` make resends effectively-once.
CREATE TABLE IF NOT EXISTS :"schema".messages (
  room text NOT NULL,
  seq bigint NOT NULL,
  id uuid NOT NULL,
  user_id text NOT NULL,
  sender text NOT NULL,
  name text,
  recipient text,
  content text NOT NULL,
  meta jsonb,
  sent_at timestamptz NOT NULL,
  edited_at timestamptz,
  deleted_at timestamptz,
  ref text,
  digest text,
  PRIMARY KEY (room, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_id ON :"schema".messages (id);
CREATE INDEX IF NOT EXISTS messages_ref ON :"schema".messages (room, user_id, ref, seq) WHERE ref IS NOT NULL;
-- Retention by age: sent_at grows with the table's physical order, which a BRIN index serves
-- at almost no cost per insert.
CREATE INDEX IF NOT EXISTS messages_sent_at ON :"schema".messages USING brin (sent_at);

-- Edits and deletions, each an event of its room with its own seq (so that a resume replays
-- them in order). A deletion empties the content of the message's earlier edits too.
CREATE TABLE IF NOT EXISTS :"schema".changes (
  room text NOT NULL,
  seq bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('edited', 'deleted')),
  message_id uuid NOT NULL,
  user_id text NOT NULL,
  sender text NOT NULL,
  content text,
  meta jsonb,
  at timestamptz NOT NULL,
  PRIMARY KEY (room, seq)
);
CREATE INDEX IF NOT EXISTS changes_message ON :"schema".changes (message_id);

-- STABLE, as timestamptz arithmetic is: so that it is inlined into the queries that call it.
CREATE OR REPLACE FUNCTION :"schema".ms_time (ms bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT timestamptz 'epoch' + ms * interval '1 millisecond' $$;

CREATE OR REPLACE FUNCTION :"schema".time_ms (t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT floor(extract(epoch FROM t) * 1000)::bigint $$;

-- A room's epoch: derived from the store's token and the room's name, so that a room nobody
-- wrote to yet has its epoch without a row.
CREATE OR REPLACE FUNCTION :"schema".room_epoch (p_room text) RETURNS text
LANGUAGE sql STABLE SET search_path = :"schema" AS $$
  SELECT translate(encode(substring(sha256(convert_to(s.token || p_room, 'UTF8')) FROM 1 FOR 6), 'base64'), '+/', '-_')
  FROM store s
$$;

-- Messages of any rooms, committed together: each room's get its next seqs in the order given.
-- A message whose (room, user, ref) was sent after p_since (ms) is not kept again: 'duplicate'
-- (same digest) or 'reused' (another), with the first one's id and seq; so is a ref given twice in
-- one call. Rooms are locked in name order, so that batches of several processes sharing rooms
-- never deadlock. The batch is worked through with window functions over one ordered pass, not
-- joins between its steps: the planner guesses 10 rows for unnest(), and a join planned on that
-- guess becomes a loop over the whole batch for each of its rows.
CREATE OR REPLACE FUNCTION :"schema".append_messages (
  p_room text[], p_id uuid[], p_user text[], p_sender text[], p_name text[], p_content text[],
  p_meta jsonb[], p_at bigint[], p_ref text[], p_digest text[], p_to text[], p_since bigint
) RETURNS TABLE (ord bigint, status text, id uuid, seq bigint, epoch text)
LANGUAGE plpgsql SET search_path = :"schema" AS $fn$
#variable_conflict use_column
BEGIN
  INSERT INTO rooms (room, epoch)
    SELECT d.room, room_epoch(d.room) FROM (SELECT DISTINCT unnest(p_room) AS room) d
    WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.room = d.room)
    ORDER BY d.room
    ON CONFLICT (room) DO NOTHING;
  PERFORM 1 FROM rooms r WHERE r.room = ANY (p_room) ORDER BY r.room FOR UPDATE;
  RETURN QUERY
  WITH input AS (
    -- first: whether it is the first message with its (room, user, ref) in this call.
    SELECT t.*, (t.ref IS NULL OR row_number() OVER (PARTITION BY t.room, t.user_id, t.ref ORDER BY t.ord) = 1) AS first
    FROM unnest(p_room, p_id, p_user, p_sender, p_name, p_content, p_meta, p_at, p_ref, p_digest, p_to)
      WITH ORDINALITY AS t (room, id, user_id, sender, name, content, meta, at, ref, digest, recipient, ord)
  ),
  -- With the room's seq and epoch, and the message its ref already names (k_id NULL: none).
  probe AS (
    SELECT i.*, r.seq AS base, r.epoch AS room_epoch, k.id AS k_id, k.seq AS k_seq, k.digest AS k_digest,
      (i.first AND k.id IS NULL) AS fresh
    FROM input i
    JOIN rooms r ON r.room = i.room
    LEFT JOIN LATERAL (
      SELECT m.id, m.seq, m.digest FROM messages m
      WHERE i.first AND i.ref IS NOT NULL AND m.room = i.room AND m.user_id = i.user_id AND m.ref = i.ref
        AND m.sent_at > ms_time(p_since)
      ORDER BY m.seq DESC LIMIT 1
    ) k ON true
  ),
  numbered AS (
    SELECT p.*, CASE WHEN p.fresh THEN p.base + count(*) FILTER (WHERE p.fresh) OVER (PARTITION BY p.room ORDER BY p.ord) END AS next
    FROM probe p
  ),
  -- A later message with the same ref answers as the first did.
  resolved AS (
    SELECT n.*,
      first_value(CASE WHEN n.fresh THEN n.id ELSE n.k_id END) OVER w AS r_id,
      first_value(CASE WHEN n.fresh THEN n.next ELSE n.k_seq END) OVER w AS r_seq,
      first_value(CASE WHEN n.fresh THEN n.digest ELSE n.k_digest END) OVER w AS r_digest
    FROM numbered n
    WINDOW w AS (PARTITION BY n.room, n.user_id, n.ref ORDER BY n.ord)
  ),
  added AS (
    INSERT INTO messages (room, seq, id, user_id, sender, name, recipient, content, meta, sent_at, ref, digest)
    SELECT n.room, n.next, n.id, n.user_id, n.sender, n.name, n.recipient, n.content, n.meta, ms_time(n.at), n.ref, n.digest
    FROM numbered n WHERE n.fresh
  ),
  counted AS (
    UPDATE rooms r SET seq = r.seq + c.n
    FROM (SELECT n.room, count(*) AS n FROM numbered n WHERE n.fresh GROUP BY n.room) c WHERE r.room = c.room
  )
  SELECT x.ord,
    CASE WHEN x.fresh THEN 'sent'
         WHEN coalesce(x.r_digest, '') = coalesce(x.digest, '') THEN 'duplicate'
         ELSE 'reused' END,
    CASE WHEN x.fresh THEN x.id ELSE x.r_id END,
    CASE WHEN x.fresh THEN x.next ELSE x.r_seq END,
    x.room_epoch
  FROM resolved x
  ORDER BY x.ord;
END
$fn$;

-- An edit or a deletion of a message not deleted yet: a new event of its room, with the room's
-- next seq. Returns nothing when there is no such message. A deletion removes the content and
-- meta of the message and of its earlier edits.
CREATE OR REPLACE FUNCTION :"schema".change_message (
  p_room text, p_id uuid, p_kind text, p_user text, p_sender text, p_content text, p_meta jsonb, p_at bigint
) RETURNS TABLE (seq bigint, epoch text, message_seq bigint)
LANGUAGE plpgsql SET search_path = :"schema" AS $fn$
#variable_conflict use_column
DECLARE
  r_seq bigint;
  r_epoch text;
  m_seq bigint;
BEGIN
  SELECT r.seq, r.epoch INTO r_seq, r_epoch FROM rooms r WHERE r.room = p_room FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  SELECT m.seq INTO m_seq FROM messages m WHERE m.room = p_room AND m.id = p_id AND m.deleted_at IS NULL;
  IF NOT FOUND THEN RETURN; END IF;
  r_seq := r_seq + 1;
  UPDATE rooms r SET seq = r_seq WHERE r.room = p_room;
  IF p_kind = 'edited' THEN
    UPDATE messages m SET content = p_content, meta = p_meta, edited_at = ms_time(p_at) WHERE m.room = p_room AND m.seq = m_seq;
  ELSE
    UPDATE messages m SET content = '', meta = NULL, deleted_at = ms_time(p_at) WHERE m.room = p_room AND m.seq = m_seq;
    UPDATE changes c SET content = NULL, meta = NULL WHERE c.message_id = p_id;
  END IF;
  INSERT INTO changes (room, seq, kind, message_id, user_id, sender, content, meta, at)
  VALUES (p_room, r_seq, p_kind, p_id, p_user, p_sender, p_content, p_meta, ms_time(p_at));
  RETURN QUERY SELECT r_seq, r_epoch, m_seq;
END
$fn$;

INSERT INTO :"schema".migrations (version) VALUES (1) ON CONFLICT DO NOTHING;
