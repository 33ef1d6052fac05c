-- fastify-chat's PostgreSQL store, schema version 2: read markers.
--
-- Applied after 001_init.sql, on start or by hand:
--
--   psql "$DATABASE_URL" -v schema=chat -f node_modules/fastify-chat/sql/002_read_markers.sql
--
-- Every statement is idempotent.

-- Each user's read marker in each room: the seq up to which it has read (it only moves forward).
CREATE TABLE IF NOT EXISTS :"schema".read_markers (
  user_id text NOT NULL,
  room text NOT NULL,
  seq bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, room)
);

-- Moves a marker up to p_seq (never down); with p_init, sets it only when there is none. Returns
-- where it stands and whether this call moved it. Two sessions marking at once serialise on the
-- row, so the marker is the higher of the two.
CREATE OR REPLACE FUNCTION :"schema".mark_read (p_user text, p_room text, p_seq bigint, p_init boolean)
RETURNS TABLE (seq bigint, moved boolean)
LANGUAGE plpgsql SET search_path = :"schema" AS $fn$
#variable_conflict use_column
DECLARE
  now_seq bigint;
BEGIN
  INSERT INTO read_markers AS r (user_id, room, seq) VALUES (p_user, p_room, p_seq)
  ON CONFLICT (user_id, room) DO UPDATE SET seq = EXCLUDED.seq, updated_at = now()
    WHERE NOT p_init AND r.seq < EXCLUDED.seq
  RETURNING r.seq INTO now_seq;
  IF FOUND THEN
    RETURN QUERY SELECT now_seq, true;
    RETURN;
  END IF;
  RETURN QUERY SELECT r.seq, false FROM read_markers r WHERE r.user_id = p_user AND r.room = p_room;
END
$fn$;

INSERT INTO :"schema".migrations (version) VALUES (2) ON CONFLICT DO NOTHING;
