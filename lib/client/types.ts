/** The client's events and options. */
import type {
  AckFrame, DeletedFrame, EditedFrame, ErrorFrame, JoinedFrame, LeftFrame, MessageFrame, PresenceDiffFrame, PresenceFrame, ReadFrame, RefreshedFrame,
  TokenExpiringFrame, TypingFrame, UserJoinedFrame, UserLeftFrame, WatchingFrame, WelcomeFrame
} from '../protocol/schemas.js'
import type { Backoff, SocketConstructor } from './socket.js'
import type { UnreadCount } from './unread.js'

/** The events of a client: every server frame by its type, and the connection's own. */
export interface ChatClientEvents {
  welcome: WelcomeFrame
  joined: JoinedFrame
  userJoined: UserJoinedFrame
  left: LeftFrame
  userLeft: UserLeftFrame
  /**
   * Presence changes batched while a room's joins and leaves come thick and fast (a deploy): each
   * change is also told as its own `userJoined` or `userLeft` event.
   */
  presenceDiff: PresenceDiffFrame
  message: MessageFrame
  /** A message was edited (the frame has the new content and meta). */
  edited: EditedFrame
  /** A message was deleted: show it as deleted, or drop it. */
  deleted: DeletedFrame
  ack: AckFrame
  error: ErrorFrame
  /** A watched user came online or went offline (and one for each at once on `watch`). */
  presence: PresenceFrame
  watching: WatchingFrame
  /** Who is typing in a room now (the whole set; empty: nobody). */
  typing: TypingFrame
  /** A read marker moved: this user's on another device (or the server's), or another member's (read receipts). */
  read: ReadFrame
  /** A room's unread count changed (a message by someone else, a read here or on another device, a join). */
  unread: { room: string, unread: UnreadCount }
  /**
   * A room's resume could not recover what this client missed (the server lost its history: the
   * memory adapter restarted, Redis was flushed or failed over without a store; or the client was
   * away longer than the history keeps): messages may be missing between `from` and the room's
   * new position. Reload the room's history (`GET /rooms/:room/messages`); live messages go on.
   */
  missed: Missed
  tokenExpiring: TokenExpiringFrame
  refreshed: RefreshedFrame
  /** The socket opened (also after a reconnect). */
  open: { reconnect: boolean }
  /**
   * The socket closed; `reconnecting` says whether the client will try again. An upgrade the
   * server refused has code 1006 and, where the WebSocket implementation shows it (Node's `ws`),
   * `status` (401, 403, 429, 503...).
   */
  close: { code: number, reason: string, reconnecting: boolean, status?: number }
  /** A reconnect is scheduled. */
  reconnecting: { attempt: number, delay: number }
  /** connecting, open, reconnecting, closed */
  status: ChatClientStatus
}

/** A room whose resume could not recover: where the client was, and where the room now is. */
export interface Missed {
  room: string
  /** The last position this client saw in the room. */
  from: { seq: number, epoch: string }
  /** The room's position now (0 in a new epoch: nothing sent there since its history started again). */
  seq: number
  epoch: string
}

export type ChatClientStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface ChatClientOptions {
  /**
   * The socket's URL, such as `wss://api.example.com/chat`, or a function that gives it before each
   * connection (a fleet of processes reached without a load balancer: another one after a cut).
   */
  url: string | (() => string)
  /** The token, or a function that fetches a fresh one before each connection. */
  token: string | (() => string | Promise<string>)
  /**
   * How the token travels: the `bearer.<jwt>` subprotocol beside `chat.v1` (default: not in the
   * URL, so not in logs) or the `token` query parameter.
   */
  transport?: 'subprotocol' | 'query'
  /** A WebSocket implementation; default the global one, else the `ws` package. */
  WebSocket?: SocketConstructor
  /**
   * Reconnect backoff, ms: from `minDelay` (250), times `factor` (2), up to `maxDelay` (10000),
   * +/- `jitter` (0.5, a fraction); never sooner than a refusal's `Retry-After`. `false`: never.
   */
  reconnect?: Backoff | false
  /** How long a request waits for its reply before it rejects, ms. Default 10000. */
  requestTimeout?: number
}
