package storage

import "time"

// Session is a persistent session as the store keeps it: everything needed
// to resume it after a restart except its message queue (see [Message]) and
// its inbound QoS 2 packet ids (see [Session.InboundQoS2]).
//
// Only sessions with clean start false or a session expiry interval above 0
// belong in the store; clean sessions never touch the disk.
type Session struct {
	ClientID string
	// Protocol is the CONNECT protocol level: 3 (3.1), 4 (3.1.1) or 5; 0
	// for a session the REST API made that no client has used yet.
	Protocol byte
	// ExpiryInterval is the MQTT 5 Session Expiry Interval in seconds;
	// [NeverExpire] (0xFFFFFFFF) means the session never expires.
	ExpiryInterval uint32
	// DisconnectedAt is when the client went away; zero while connected.
	// [Store.Sweep] counts the expiry interval from it, so a connected
	// session is never swept.
	DisconnectedAt time.Time
	// Will is the will message, nil when there is none or it was sent.
	Will *Will
	// Subscriptions carry the filter as the client sent it, including any
	// $share/group/, $filter/ or selector syntax, so shared-group membership
	// is stored with the subscription.
	Subscriptions []Subscription
	// InboundQoS2 lists packet ids of QoS 2 PUBLISHes received from this
	// client and answered with PUBREC, whose PUBREL has not arrived yet.
	// It is read-only here: [Store] fills it on read, [Batch.MarkInbound]
	// and [Batch.ClearInbound] change it. [Batch.PutSession] ignores it.
	InboundQoS2 []uint16
	// Username is the user name of the last CONNECT: the broker's ACL
	// decides a restored session's read rights by it. Records written
	// before it existed decode with "".
	Username string
	// Account and TokenID are the account and token the session's client
	// authenticated with under token authentication (0 without): the
	// namespace its subscriptions and will belong to.
	Account, TokenID uint64
}

// NeverExpire is the Session Expiry Interval that means "never".
const NeverExpire = 0xFFFFFFFF

// Will is a session's will message.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// DelayInterval is the MQTT 5 Will Delay Interval in seconds.
	DelayInterval uint32
	Props         Properties
	// MessageExpiry is the will's MQTT 5 Message Expiry Interval in
	// seconds (0: none), counted from when the will is published.
	MessageExpiry uint32
}

// Subscription is one subscription of a session with all its options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	// RetainHandling is the MQTT 5 option 0, 1 or 2.
	RetainHandling byte
	// ID is the Subscription Identifier, 0 when none.
	ID uint32
	// CID is flespi's cid option of the SUBSCRIBE (only messages of that
	// account), when HasCID.
	CID    uint64
	HasCID bool
}

// UserProperty is one MQTT 5 user property; order and duplicates matter.
type UserProperty struct{ Key, Value string }

// Properties are the MQTT 5 PUBLISH properties a stored message keeps.
// Topic alias is per connection and is never stored.
type Properties struct {
	PayloadFormat   byte
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  []UserProperty
	SubscriptionIDs []uint32
}

// MessageState says where an outbound message is in its QoS flow.
type MessageState byte

const (
	// Queued: not sent yet (offline session, or beyond receive maximum).
	Queued MessageState = iota
	// AwaitingPuback: QoS 1 sent with PacketID, no PUBACK yet. The broker
	// no longer writes it (a QoS 1 record stays Queued until its PUBACK);
	// records written before still load and are resent with their id.
	AwaitingPuback
	// AwaitingPubrec: QoS 2 sent with PacketID, no PUBREC yet.
	AwaitingPubrec
	// AwaitingPubcomp: PUBREC received and PUBREL sent, no PUBCOMP yet.
	// On reconnect the broker resends PUBREL, not the PUBLISH [MQTT-4.4.0-1].
	AwaitingPubcomp
	maxMessageState = AwaitingPubcomp
)

// Message is one outbound message in a persistent session's queue.
type Message struct {
	// Seq orders the session's queue; the caller assigns it, strictly
	// increasing per session, and uses it to delete the message on ack.
	Seq      uint64
	State    MessageState
	PacketID uint16
	QoS      byte
	Retain   bool
	Topic    string
	Payload  []byte
	Props    Properties
	// Created is when the broker received the message (flespi's timestamp).
	Created time.Time
	// Expires is when the MQTT 5 Message Expiry Interval runs out; zero
	// means never. [Store.Sweep] drops expired messages still Queued.
	Expires time.Time
}

// Retained is one retained message, keyed by Topic.
type Retained struct {
	Topic   string
	Payload []byte
	QoS     byte
	Props   Properties
	// Created is when it was published; flespi's modified_since compares it.
	Created time.Time
	// Expires is zero for never; [Store.Sweep] purges it once passed.
	Expires time.Time
}
