package broker

import (
	"log/slog"
	"os"
	"time"

	"github.com/mqttboard/mqttboard/broker/storage"
)

// Options configures a [Server]. The zero value is a working broker on
// 127.0.0.1:1883 with flespi's limits; [Options.applyDefaults] fills every
// zero field and says why each default is what it is.
type Options struct {
	// Listen is the TCP address of [Server.ListenAndServe]; "127.0.0.1:0"
	// picks a free port, reported by [Server.Addr].
	Listen string

	// MaxPayload is the largest PUBLISH payload accepted (flespi: 60 MB).
	MaxPayload int
	// MaxPacketSize is the largest packet accepted from a client, announced
	// in CONNACK; a bigger one gets DISCONNECT 0x95 [MQTT-3.2.2-15].
	MaxPacketSize uint32
	// MaxRetainedSize is the largest retained payload (flespi: 16 MB).
	MaxRetainedSize int
	// MaxTopicLevels is the deepest topic or filter (flespi: 24; the topic
	// index cannot go deeper).
	MaxTopicLevels int
	// MaxFiltersPerSubscribe bounds the filters of one SUBSCRIBE or
	// UNSUBSCRIBE (flespi: 64).
	MaxFiltersPerSubscribe int
	// MaxQueueBytes bounds a session's outgoing queue (flespi: 256 MB).
	MaxQueueBytes int
	// MaxInflightBytes bounds a session's unacknowledged QoS 1/2 bytes
	// (flespi: 100 MB).
	MaxInflightBytes int
	// ReceiveMaximum is the number of unacknowledged QoS 2 PUBLISHes the
	// broker accepts from a client, announced in CONNACK.
	ReceiveMaximum uint16
	// TopicAliasMaximum is the number of topic aliases a client may set,
	// announced in CONNACK.
	TopicAliasMaximum uint16
	// MaxKeepAlive caps a client's keep alive in seconds; a 5.0 client
	// asking for more (or for 0, no keep alive) gets Server Keep Alive in
	// CONNACK. It is enforced on 3.1 and 3.1.1 clients too, which cannot
	// be told: one idle for 1.5 × MaxKeepAlive is disconnected. 65535 (the
	// default) caps nothing.
	MaxKeepAlive uint16
	// MaxSessionExpiry caps the session expiry interval in seconds.
	MaxSessionExpiry uint32
	// ControlQueueBytes bounds acknowledgements queued to a client that does
	// not read them; past it the connection is closed.
	ControlQueueBytes int
	// ResponseInfo is the Response Information returned to a client that
	// requests it; the client id is appended.
	ResponseInfo string
	// ShutdownLinger is how long a closing connection waits for the client
	// to read the final DISCONNECT, and how long a write in progress may
	// still take once its connection is kicked.
	ShutdownLinger time.Duration

	// ConnectTimeout is how long a new connection may take to send its
	// whole CONNECT; a connection that sends nothing is closed after it.
	ConnectTimeout time.Duration
	// PacketTimeout bounds how long a client may pause inside a packet
	// (after its first byte): a half-sent packet otherwise holds its
	// buffers for ever. A stall ends the connection after between half and
	// all of it (DISCONNECT 0x8D in 5.0). Within keep alive, 1.5 × keep
	// alive applies when it is shorter.
	PacketTimeout time.Duration
	// WriteTimeout is how long a write to a client may make no progress
	// (over TLS and WebSocket: how long one batch may take) before the
	// client is cut off as not reading (DISCONNECT 0x97 if it can still be
	// written). It bounds what a stalled client holds.
	WriteTimeout time.Duration
	// MaxConnectSize is the largest CONNECT accepted: before a client has
	// authenticated it may not make the broker buffer MaxPacketSize.
	MaxConnectSize uint32
	// MaxConnectingBytes bounds the bytes held together by all
	// connections whose CONNECT is not read yet; a connection that would
	// go past it is closed.
	MaxConnectingBytes int

	// SysInterval is how often $SYS/broker/... counters are published;
	// negative disables them.
	SysInterval time.Duration

	// ACL, when set, decides publish and subscribe permissions (see
	// [LoadConfig]); nil allows everything. With Auth it is not used: each
	// token's ACL decides.
	ACL *ACL
	// Auth, when set, is token authentication (flespi tokens, accounts and
	// namespaces, `--auth token`): a CONNECT must present a valid token.
	// nil is the open sandbox: every client in AccountID.
	Auth Authenticator

	// NoStamp switches off the flespi stamping of forwarded messages (the
	// timestamp and cid user properties) and the CONNACK user properties,
	// for a strictly standard broker that forwards user properties exactly
	// as received. Stamping is on by default, as on flespi.
	NoStamp bool
	// AllowControlChars accepts control characters U+0001..U+001F and
	// U+007F..U+009F in topic names and filters, client identifiers, user
	// names and will topics. By default they are refused as malformed
	// (DISCONNECT 0x81 in 5.0; a CONNECT is closed without CONNACK), as
	// mosquitto does: the spec says they SHOULD NOT be sent and lets the
	// receiver close the connection [MQTT-1.5.4-1], and they are how a
	// topic smuggles escape sequences into a terminal.
	AllowControlChars bool
	// NoReasonStrings leaves the Reason String out of every CONNACK,
	// DISCONNECT, PUBACK, PUBREC and SUBACK, as mosquitto does: what a
	// refusal was about then reaches the broker's events and log only. For
	// byte-for-byte conformance suites; by default reason strings are sent
	// (cut to 96 bytes), since they are what a developer debugging a
	// refusal needs.
	NoReasonStrings bool
	// AccountID is the account (flespi "cid") of every client: the
	// unauthenticated sandbox has one account. Default 1.
	AccountID uint64
	// ReservedPrefix is a topic prefix clients may subscribe to but not
	// publish to (flespi's "flespi/"); "-" disables it.
	ReservedPrefix string

	// LogRecords is how many records the log ring keeps for
	// [Server.Logs] (the REST API's /mqtt/logs); negative disables the
	// log and its MQTT topics.
	LogRecords int
	// NoLogTopics switches off publishing log records to
	// flespi/log/mqtt/... (the ring is still kept).
	NoLogTopics bool

	// Transport is how connections are read and written:
	// [TransportEventLoop] (the default where the platform has epoll:
	// an idle connection holds no goroutine and no buffer) or
	// [TransportGoroutine] (a goroutine per connection). Empty: the
	// MQTTBOARD_TRANSPORT environment variable if set, else the default.
	// TLS, WebSocket and in-memory connections always use goroutines.
	Transport string
	// MemoryTrim is how often the broker looks whether it is quiet
	// enough to give the heap it freed back to the system (memtrim.go):
	// without it, a broker that went quiet keeps about twice its live
	// memory resident. The first quiet look after traffic also ends the
	// event loop's idle workers, whose stacks the traffic grew. 0: every
	// 5 s; negative: never.
	MemoryTrim time.Duration

	// Store, when set, keeps persistent sessions (with their queued and
	// in-flight messages) and retained messages across restarts, and a
	// QoS 1/2 PUBLISH is acknowledged only once it is stored (see
	// persist.go and package storage). Create the Server with [Open] to
	// learn whether recovery worked; the Server closes the Store when it
	// shuts down. Nil (the default, and the board's sandbox): everything
	// lives in memory and no disk is touched.
	Store storage.Store

	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
	// OnEvent, when set, is called for every [Event]. It runs on the
	// broker's goroutines and must not block.
	OnEvent func(Event)
}

func (o *Options) applyDefaults() {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:1883" // MQTT's port; loopback so a sandbox is not exposed by accident
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = 60 << 20 // flespi's 60 MB payload limit
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = uint32(o.MaxPayload) + 1<<20 // the payload plus room for topic and properties
	}
	if o.MaxRetainedSize == 0 {
		o.MaxRetainedSize = 16 << 20 // flespi's 16 MB retained message limit
	}
	if o.MaxTopicLevels == 0 || o.MaxTopicLevels > 24 {
		o.MaxTopicLevels = 24 // flespi's limit, and the index's stack array size
	}
	if o.MaxFiltersPerSubscribe == 0 {
		o.MaxFiltersPerSubscribe = 64 // flespi's limit per SUBSCRIBE/UNSUBSCRIBE
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = 256 << 20 // flespi's 256 MB outgoing queue
	}
	if o.MaxInflightBytes == 0 {
		o.MaxInflightBytes = 100 << 20 // flespi's 100 MB of unacknowledged QoS 1
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 65535 // the protocol maximum: the broker acks QoS 1 at once and holds QoS 2 ids only
	}
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = 1024 // enough for any real client; bounds the per-connection alias table
	}
	if o.MaxKeepAlive == 0 {
		o.MaxKeepAlive = 65535 // no cap: the protocol maximum
	}
	if o.MaxSessionExpiry == 0 {
		o.MaxSessionExpiry = 0xFFFFFFFF // no cap: a session may be kept forever, as the client asks
	}
	if o.ControlQueueBytes == 0 {
		o.ControlQueueBytes = 1 << 20 // a million bytes of unread acks means the client is not reading
	}
	if o.ResponseInfo == "" {
		o.ResponseInfo = "response/" // a topic prefix clients can use for request/response
	}
	if o.ShutdownLinger == 0 {
		o.ShutdownLinger = 200 * time.Millisecond // enough for a LAN/loopback peer to read a DISCONNECT
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second // a CONNECT is one small packet: 10 s is ample even on a poor link
	}
	if o.PacketTimeout == 0 {
		o.PacketTimeout = 30 * time.Second // a live client never pauses this long inside one packet
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second // nats' write_deadline: a reader stalled this long is not coming back soon
	}
	if o.MaxConnectSize == 0 {
		// Every CONNECT field at its 65,535-byte maximum (client id,
		// will topic and payload, username, password) is 320 KB; the rest
		// leaves room for properties.
		o.MaxConnectSize = 512 << 10
	}
	if o.MaxConnectingBytes == 0 {
		o.MaxConnectingBytes = 64 << 20 // 128 CONNECTs at the maximum size at once; ordinary ones take a few hundred bytes
	}
	if o.SysInterval == 0 {
		o.SysInterval = 10 * time.Second // mosquitto's default sys_interval: fresh enough for a dashboard, cheap
	}
	if o.AccountID == 0 {
		o.AccountID = 1 // the sandbox is one account, as an unauthenticated flespi user would see
	}
	if o.ReservedPrefix == "" {
		o.ReservedPrefix = "flespi/" // flespi reserves these topics for its own API and logs
	}
	if o.LogRecords == 0 {
		o.LogRecords = 4096 // minutes of connect/subscribe history on a busy sandbox for ~1 MB
	}
	if o.Transport == "" {
		o.Transport = os.Getenv(transportEnv)
	}
	if o.MemoryTrim == 0 {
		o.MemoryTrim = 5 * time.Second // a burst's garbage is handed back seconds after it ends; one metrics read per look
	}
	if o.Transport != TransportGoroutine {
		// The event loop where it is supported (it falls back by itself
		// elsewhere): idle connections cost a fraction of the memory.
		o.Transport = TransportEventLoop
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
