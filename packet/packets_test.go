package packet

// rawPackets is the one table of raw packets that drives the unit tests
// (decode, encode, round trip), the fuzz seeds and the paho cross-check.
// A case with wantErr set must fail to decode with that reason code.
var rawPackets = []rawPacket{
	// ---------------- CONNECT ----------------
	{name: "connect 3.1.1 minimal", v: 0, pkt: &Connect{ProtocolVersion: V311, CleanStart: true, KeepAlive: 60, ClientID: "c1"}, raw: []byte{
		0x10, 14, // CONNECT, remaining length 14
		0, 4, 'M', 'Q', 'T', 'T', // protocol name
		4,     // protocol level 3.1.1
		0x02,  // flags: clean session
		0, 60, // keep alive 60 s
		0, 2, 'c', '1', // client id
	}},
	{name: "connect 3.1 MQIsdp with user and password", v: 0, pkt: &Connect{ProtocolVersion: V31, KeepAlive: 10, ClientID: "a",
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}, raw: []byte{
		0x10, 21,
		0, 6, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name 3.1
		3,     // protocol level 3.1
		0xC0,  // flags: user name, password
		0, 10, // keep alive
		0, 1, 'a', // client id
		0, 1, 'u', // user name
		0, 1, 'p', // password
	}},
	{name: "connect 3.1.1 with will", v: 0, pkt: &Connect{ProtocolVersion: V311, KeepAlive: 30, ClientID: "w",
		WillFlag: true, Will: Will{QoS: 1, Retain: true, Topic: "t/w", Payload: []byte("bye")}}, raw: []byte{
		0x10, 23,
		0, 4, 'M', 'Q', 'T', 'T',
		4,
		0x2C, // flags: will retain, will QoS 1, will flag
		0, 30,
		0, 1, 'w', // client id
		0, 3, 't', '/', 'w', // will topic
		0, 3, 'b', 'y', 'e', // will payload
	}},
	{name: "connect 5.0 all properties", v: 0, pkt: &Connect{ProtocolVersion: V5, CleanStart: true, KeepAlive: 5, ClientID: "x",
		UsernameFlag: true, Username: "tok", PasswordFlag: true, Password: []byte{1, 2},
		Props: Properties{SessionExpiry: 120, ReceiveMaximum: 10, MaximumPacketSize: 1024, TopicAliasMaximum: 8,
			RequestResponseInfo: 1, RequestProblemInfo: 0, Present: PropSet(0).Add(PropRequestProblemInfo),
			User: []UserProperty{{"k", "v"}, {"k", "w"}}, AuthMethod: "m", AuthData: []byte{9}},
		WillFlag: true, Will: Will{QoS: 2, Topic: "lw", Payload: []byte{},
			Props: Properties{WillDelay: 3, PayloadFormat: 1, MessageExpiry: 60, ContentType: "ct", ResponseTopic: "rt",
				CorrelationData: []byte{7}, User: []UserProperty{{"a", "b"}}}}}, raw: []byte{
		0x10, 105,
		0, 4, 'M', 'Q', 'T', 'T',
		5,    // protocol level 5.0
		0xD6, // flags: user name, password, will QoS 2, will flag, clean start
		0, 5, // keep alive
		42,                 // property length
		0x11, 0, 0, 0, 120, // session expiry interval = 120
		0x15, 0, 1, 'm', // authentication method "m"
		0x16, 0, 1, 9, // authentication data 09
		0x17, 0, // request problem information = 0 (explicit)
		0x19, 1, // request response information = 1
		0x22, 0, 8, // topic alias maximum = 8 (before receive maximum, as mosquitto writes them)
		0x21, 0, 10, // receive maximum = 10
		0x26, 0, 1, 'k', 0, 1, 'v', // user property k=v
		0x26, 0, 1, 'k', 0, 1, 'w', // user property k=w (repeats keep order)
		0x27, 0, 0, 4, 0, // maximum packet size = 1024
		0, 1, 'x', // client id
		33,      // will property length
		0x01, 1, // payload format indicator = 1
		0x02, 0, 0, 0, 60, // message expiry = 60
		0x03, 0, 2, 'c', 't', // content type
		0x08, 0, 2, 'r', 't', // response topic
		0x09, 0, 1, 7, // correlation data
		0x18, 0, 0, 0, 3, // will delay interval = 3
		0x26, 0, 1, 'a', 0, 1, 'b', // will user property
		0, 2, 'l', 'w', // will topic
		0, 0, // will payload, empty
		0, 3, 't', 'o', 'k', // user name
		0, 2, 1, 2, // password
	}},
	{name: "connect 5.0 password without user name is legal", v: 0, pkt: &Connect{ProtocolVersion: V5, ClientID: "",
		PasswordFlag: true, Password: []byte("tok")}, raw: []byte{
		0x10, 18,
		0, 4, 'M', 'Q', 'T', 'T', 5,
		0x40, // flags: password only
		0, 0,
		0,    // no properties
		0, 0, // empty client id
		0, 3, 't', 'o', 'k',
	}},
	{name: "connect reserved flag", v: 0, wantErr: MalformedPacket, rule: "MQTT-3.1.2-3", raw: []byte{
		0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4,
		0x03, // reserved bit 0 set
		0, 0, 0, 0,
	}},
	{name: "connect unknown protocol level", v: 0, wantErr: UnsupportedProtocolVersion, rule: "MQTT-3.1.2-2", raw: []byte{
		0x10, 12, 0, 4, 'M', 'Q', 'T', 'T',
		6, // level 6 does not exist
		0x02, 0, 0, 0, 0,
	}},
	{name: "connect wrong protocol name", v: 0, wantErr: ProtocolError, rule: "MQTT-3.1.2-1", raw: []byte{
		0x10, 12, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 0, 0, 0,
	}},
	{name: "connect will QoS 3", v: 0, wantErr: MalformedPacket, rule: "MQTT-3.1.2-12", raw: []byte{
		0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4,
		0x1C, // will flag, will QoS 3
		0, 0, 0, 0,
	}},
	{name: "connect will QoS without will flag", v: 0, wantErr: MalformedPacket, rule: "MQTT-3.1.2-11", raw: []byte{
		0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4,
		0x08, // will QoS 1, no will flag
		0, 0, 0, 0,
	}},
	{name: "connect 3.1.1 password without user name", v: 0, wantErr: MalformedPacket, rule: "MQTT-3.1.2-22", raw: []byte{
		0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4,
		0x40, // password flag only
		0, 0, 0, 0,
		0, 1, 'p',
	}},
	{name: "connect client id with U+0000", v: 0, wantErr: MalformedPacket, rule: "MQTT-1.5.4-2", raw: []byte{
		0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0,
		0, 1, 0, // client id "\x00"
	}},
	{name: "connect client id with encoded surrogate", v: 0, wantErr: MalformedPacket, rule: "MQTT-1.5.4-1", raw: []byte{
		0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0,
		0, 3, 0xED, 0xA0, 0x80, // U+D800 encoded in UTF-8 form
	}},
	{name: "connect 5.0 duplicate property", v: 0, wantErr: ProtocolError, rule: "MQTT-2.2.2-2", raw: []byte{
		0x10, 23, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0,
		10,               // property length
		0x11, 0, 0, 0, 1, // session expiry = 1
		0x11, 0, 0, 0, 2, // session expiry again
		0, 0,
	}},
	{name: "connect 5.0 property not allowed", v: 0, wantErr: ProtocolError, rule: "MQTT-2.2.2-2", raw: []byte{
		0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0,
		3,          // property length
		0x23, 0, 1, // topic alias is a PUBLISH property
		0, 0,
	}},
	{name: "connect 5.0 receive maximum 0", v: 0, wantErr: ProtocolError, rule: "MQTT-3.1.2.11.3", raw: []byte{
		0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0,
		3, 0x21, 0, 0, // receive maximum = 0
		0, 0,
	}},
	{name: "connect 5.0 unknown property", v: 0, wantErr: MalformedPacket, rule: "MQTT-2.2.2-2", raw: []byte{
		0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0,
		2, 0x7F, 0, // property 0x7F does not exist
		0, 0,
	}},
	{name: "connect trailing bytes", v: 0, wantErr: MalformedPacket, rule: "MQTT-3.1.3-1", raw: []byte{
		0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 0,
		0xFF, // one byte after the payload
	}},
	{name: "connect will topic with wildcard", v: 0, wantErr: TopicNameInvalid, rule: "MQTT-3.3.2-2", raw: []byte{
		0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x06, 0, 0,
		0, 0, // client id
		0, 1, '#', // will topic "#"
		0, 0, // will payload
	}},

	// ---------------- CONNACK ----------------
	{name: "connack 3.1.1 accepted session present", v: V311, pkt: &Connack{SessionPresent: true}, raw: []byte{
		0x20, 2, 0x01, 0x00,
	}},
	{name: "connack 3.1.1 bad credentials", v: V311, pkt: &Connack{ReasonCode: BadUserNameOrPassword}, raw: []byte{
		0x20, 2, 0x00, 0x04, // return code 4 = bad user name or password
	}},
	{name: "connack 5.0 all properties", v: V5, pkt: &Connack{ReasonCode: Success, Props: Properties{
		SessionExpiry: 30, ReceiveMaximum: 20, MaximumQoS: 1, RetainAvailable: 1, MaximumPacketSize: 65536,
		AssignedClientID: "gen", TopicAliasMaximum: 10, ReasonString: "ok", User: []UserProperty{{"acl", "[]"}},
		WildcardSubAvailable: 1, SubIDAvailable: 1, SharedSubAvailable: 0, ServerKeepAlive: 45,
		ResponseInfo: "ri", ServerReference: "sr", AuthMethod: "m", AuthData: []byte{1},
		Present: PropSet(0).Add(PropSharedSubAvailable)}}, raw: []byte{
		0x20, 71,
		0x00,              // no session present
		0x00,              // success
		68,                // property length
		0x11, 0, 0, 0, 30, // session expiry
		0x12, 0, 3, 'g', 'e', 'n', // assigned client id
		0x13, 0, 45, // server keep alive
		0x15, 0, 1, 'm', // authentication method
		0x16, 0, 1, 1, // authentication data
		0x1A, 0, 2, 'r', 'i', // response information
		0x1C, 0, 2, 's', 'r', // server reference
		0x1F, 0, 2, 'o', 'k', // reason string
		0x22, 0, 10, // topic alias maximum (before receive maximum, as mosquitto writes them)
		0x21, 0, 20, // receive maximum
		0x24, 1, // maximum QoS 1
		0x25, 1, // retain available
		0x26, 0, 3, 'a', 'c', 'l', 0, 2, '[', ']', // user property acl=[]
		0x27, 0, 1, 0, 0, // maximum packet size 65536
		0x28, 1, // wildcard subscription available
		0x29, 1, // subscription identifiers available
		0x2A, 0, // shared subscriptions not available (explicit 0)
	}},
	{name: "connack 5.0 refused", v: V5, pkt: &Connack{ReasonCode: NotAuthorized}, raw: []byte{
		0x20, 3, 0x00, 0x87, 0,
	}},
	{name: "connack 3.1.1 reserved ack flags", v: V311, wantErr: MalformedPacket, rule: "MQTT-3.2.2-1", raw: []byte{
		0x20, 2, 0x02, 0x00,
	}},
	{name: "connack 5.0 reason code not for connack", v: V5, wantErr: MalformedPacket, raw: []byte{
		0x20, 3, 0x00, 0x8E, 0, // session taken over is a DISCONNECT code
	}},
	{name: "connack 5.0 maximum QoS 2 is invalid", v: V5, wantErr: ProtocolError, raw: []byte{
		0x20, 5, 0x00, 0x00, 2, 0x24, 2,
	}},

	// ---------------- PUBLISH ----------------
	{name: "publish 3.1.1 qos0", v: V311, pkt: &Publish{Topic: "a/b", Payload: []byte("hi")}, raw: []byte{
		0x30, 7, // PUBLISH QoS 0
		0, 3, 'a', '/', 'b', // topic
		'h', 'i', // payload
	}},
	{name: "publish 3.1.1 qos1 retain dup", v: V311, pkt: &Publish{Topic: "t", QoS: 1, Retain: true, Dup: true, PacketID: 7, Payload: []byte{0xFF}}, raw: []byte{
		0x3B, 6, // PUBLISH DUP, QoS 1, RETAIN
		0, 1, 't',
		0, 7, // packet id 7
		0xFF,
	}},
	{name: "publish 3.1.1 qos2 empty payload", v: V311, pkt: &Publish{Topic: "t", QoS: 2, PacketID: 65535}, raw: []byte{
		0x34, 5, 0, 1, 't', 0xFF, 0xFF,
	}},
	{name: "publish 5.0 all properties", v: V5, pkt: &Publish{Topic: "s/1", QoS: 1, PacketID: 1, Payload: []byte(`{"x":1}`), Props: Properties{
		PayloadFormat: 1, MessageExpiry: 3600, ContentType: "application/json", ResponseTopic: "r/1",
		CorrelationData: []byte{0xC0, 0xDE}, SubscriptionIDs: []uint32{1, 268435455}, TopicAlias: 3,
		User: []UserProperty{{"timestamp", "1700000000.5"}, {"cid", "1"}}}}, raw: []byte{
		0x32, 97,
		0, 3, 's', '/', '1',
		0, 1, // packet id
		82,      // property length
		0x01, 1, // payload format indicator
		0x02, 0, 0, 0x0E, 0x10, // message expiry 3600
		0x03, 0, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/', 'j', 's', 'o', 'n', // content type
		0x08, 0, 3, 'r', '/', '1', // response topic
		0x09, 0, 2, 0xC0, 0xDE, // correlation data
		0x0B, 1, // subscription identifier 1
		0x0B, 0xFF, 0xFF, 0xFF, 0x7F, // subscription identifier 268435455
		0x23, 0, 3, // topic alias 3
		0x26, 0, 9, 't', 'i', 'm', 'e', 's', 't', 'a', 'm', 'p', 0, 12, '1', '7', '0', '0', '0', '0', '0', '0', '0', '0', '.', '5',
		0x26, 0, 3, 'c', 'i', 'd', 0, 1, '1',
		'{', '"', 'x', '"', ':', '1', '}', // payload
	}},
	{name: "publish 5.0 empty topic with alias", v: V5, pkt: &Publish{Props: Properties{TopicAlias: 1}, Payload: []byte("p")}, raw: []byte{
		0x30, 7, 0, 0, // empty topic
		3, 0x23, 0, 1, // topic alias 1
		'p',
	}},
	{name: "publish qos3", v: V311, wantErr: MalformedPacket, rule: "MQTT-3.3.1-4", raw: []byte{
		0x36, 5, 0, 1, 't', 0, 1,
	}},
	{name: "publish dup on qos0", v: V311, wantErr: MalformedPacket, rule: "MQTT-3.3.1-2", raw: []byte{
		0x38, 3, 0, 1, 't',
	}},
	{name: "publish packet id 0", v: V311, wantErr: ProtocolError, rule: "MQTT-2.2.1-3", raw: []byte{
		0x32, 5, 0, 1, 't', 0, 0,
	}},
	{name: "publish topic with wildcard", v: V311, wantErr: TopicNameInvalid, rule: "MQTT-3.3.2-2", raw: []byte{
		0x30, 5, 0, 3, 'a', '/', '+',
	}},
	{name: "publish empty topic without alias", v: V5, wantErr: TopicNameInvalid, rule: "MQTT-4.7.3-1", raw: []byte{
		0x30, 4, 0, 0, 0, 'p',
	}},
	{name: "publish topic alias 0", v: V5, wantErr: ProtocolError, raw: []byte{
		0x30, 7, 0, 1, 't', 3, 0x23, 0, 0,
	}},
	{name: "publish property length past end", v: V5, wantErr: MalformedPacket, rule: "MQTT-2.2.2-1", raw: []byte{
		0x30, 5, 0, 1, 't', 9, 0x01,
	}},
	{name: "publish topic length past end", v: V311, wantErr: MalformedPacket, raw: []byte{
		0x30, 3, 0, 9, 't',
	}},
	{name: "publish payload format 2 is forwarded", v: V5, pkt: &Publish{Topic: "t", Props: Properties{PayloadFormat: 2}}, raw: []byte{
		0x30, 6, 0, 1, 't', 2, 0x01, 2, // payload format indicator = 2: no meaning, no reason code
	}},
	{name: "puback malformed property block with a disallowed property is malformed", v: V5, wantErr: MalformedPacket, raw: []byte{
		0x40, 8, 0, 1, 0, 4, 0x23, 0, 1, 0x70, // topic alias (not allowed in PUBACK), then unknown property 0x70
	}},
	{name: "puback disallowed property is a protocol error", v: V5, wantErr: ProtocolError, raw: []byte{
		0x40, 6, 0, 1, 0, 2, 0x01, 0, // payload format indicator (not allowed in PUBACK)
	}},
	{name: "publish response topic with wildcard", v: V5, wantErr: ProtocolError, rule: "MQTT-3.3.2-14", raw: []byte{
		0x30, 9, 0, 1, 't', 5, 0x08, 0, 2, 'a', '#', // response topic "a#"
	}},
	{name: "publish user property in 3.1.1 is payload", v: V311, pkt: &Publish{Topic: "t", Payload: []byte{0, 0x26}}, raw: []byte{
		0x30, 5, 0, 1, 't', 0, 0x26, // no properties before 5.0: these are payload bytes
	}},

	// ---------------- acknowledgements ----------------
	{name: "puback 3.1.1", v: V311, pkt: &Puback{Ack{PacketID: 258}}, raw: []byte{0x40, 2, 1, 2}},
	{name: "puback 5.0 success short form", v: V5, pkt: &Puback{Ack{PacketID: 1}}, raw: []byte{0x40, 2, 0, 1}},
	{name: "puback 5.0 reason only", v: V5, pkt: &Puback{Ack{PacketID: 1, ReasonCode: NoMatchingSubscribers}}, raw: []byte{0x40, 3, 0, 1, 0x10}},
	{name: "puback 5.0 properties", v: V5, pkt: &Puback{Ack{PacketID: 9, ReasonCode: Success, Props: Properties{ReasonString: "r",
		User: []UserProperty{{"subscribers_count", "2"}}}}}, raw: []byte{
		0x40, 31, 0, 9,
		0x00,            // success
		27,              // property length
		0x1F, 0, 1, 'r', // reason string
		0x26, 0, 17, 's', 'u', 'b', 's', 'c', 'r', 'i', 'b', 'e', 'r', 's', '_', 'c', 'o', 'u', 'n', 't', 0, 1, '2',
	}},
	{name: "pubrec 5.0 not authorized", v: V5, pkt: &Pubrec{Ack{PacketID: 2, ReasonCode: NotAuthorized}}, raw: []byte{0x50, 3, 0, 2, 0x87}},
	{name: "pubrel 3.1.1", v: V311, pkt: &Pubrel{Ack{PacketID: 3}}, raw: []byte{0x62, 2, 0, 3}},
	{name: "pubrel 5.0 id not found", v: V5, pkt: &Pubrel{Ack{PacketID: 3, ReasonCode: PacketIdentifierNotFound}}, raw: []byte{0x62, 3, 0, 3, 0x92}},
	{name: "pubcomp 5.0 with reason string", v: V5, pkt: &Pubcomp{Ack{PacketID: 4, Props: Properties{ReasonString: "x"}}}, raw: []byte{
		0x70, 8, 0, 4, 0x00, 4, 0x1F, 0, 1, 'x',
	}},
	{name: "pubrel reserved flags", v: V311, wantErr: MalformedPacket, rule: "MQTT-2.1.3-1", raw: []byte{0x60, 2, 0, 3}},
	{name: "puback reserved flags", v: V311, wantErr: MalformedPacket, rule: "MQTT-2.1.3-1", raw: []byte{0x41, 2, 0, 3}},
	{name: "puback packet id 0", v: V5, wantErr: ProtocolError, rule: "MQTT-2.2.1-3", raw: []byte{0x40, 2, 0, 0}},
	{name: "puback 3.1.1 too long", v: V311, wantErr: MalformedPacket, raw: []byte{0x40, 3, 0, 1, 0}},
	{name: "pubcomp 5.0 reason not for pubcomp", v: V5, wantErr: ProtocolError, raw: []byte{0x70, 3, 0, 1, 0x87}},

	// ---------------- SUBSCRIBE / SUBACK ----------------
	{name: "subscribe 3.1.1 two filters", v: V311, pkt: &Subscribe{PacketID: 10, Subscriptions: []Subscription{
		{Filter: "a/+", QoS: 1}, {Filter: "#", QoS: 2}}}, raw: []byte{
		0x82, 12, // SUBSCRIBE, flags 0010
		0, 10,
		0, 3, 'a', '/', '+', 1, // filter, QoS 1
		0, 1, '#', 2, // filter, QoS 2
	}},
	{name: "subscribe 5.0 options and properties", v: V5, pkt: &Subscribe{PacketID: 11,
		Props: Properties{SubscriptionIDs: []uint32{200}, User: []UserProperty{{"modified_since", "1700000000"}}},
		Subscriptions: []Subscription{
			{Filter: "t/a,b/#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
			{Filter: "$share/g:1:2/x/+", QoS: 0, RetainHandling: 1},
			{Filter: "$filter/payload=x%3E1/s/#", QoS: 2},
		}}, raw: []byte{
		0x82, 92,
		0, 11,
		32,            // property length
		0x0B, 0xC8, 1, // subscription identifier 200
		0x26, 0, 14, 'm', 'o', 'd', 'i', 'f', 'i', 'e', 'd', '_', 's', 'i', 'n', 'c', 'e', 0, 10, '1', '7', '0', '0', '0', '0', '0', '0', '0', '0',
		0, 7, 't', '/', 'a', ',', 'b', '/', '#', 0x2D, // QoS 1, no local, RAP, retain handling 2
		0, 16, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', ':', '1', ':', '2', '/', 'x', '/', '+', 0x10, // retain handling 1
		0, 25, '$', 'f', 'i', 'l', 't', 'e', 'r', '/', 'p', 'a', 'y', 'l', 'o', 'a', 'd', '=', 'x', '%', '3', 'E', '1', '/', 's', '/', '#', 0x02,
	}},
	{name: "subscribe no filters", v: V311, wantErr: MalformedPacket, rule: "MQTT-3.8.3-2", raw: []byte{0x82, 2, 0, 1}},
	{name: "subscribe reserved flags", v: V311, wantErr: MalformedPacket, rule: "MQTT-2.1.3-1", raw: []byte{0x80, 6, 0, 1, 0, 1, 'a', 0}},
	{name: "subscribe 3.1.1 reserved option bits", v: V311, wantErr: MalformedPacket, raw: []byte{0x82, 6, 0, 1, 0, 1, 'a', 0x04}},
	{name: "subscribe 5.0 reserved option bits", v: V5, wantErr: MalformedPacket, rule: "MQTT-3.8.3-5", raw: []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x40}},
	{name: "subscribe qos 3", v: V311, wantErr: MalformedPacket, raw: []byte{0x82, 6, 0, 1, 0, 1, 'a', 3}},
	{name: "subscribe retain handling 3", v: V5, wantErr: MalformedPacket, raw: []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x30}},
	{name: "subscribe no local on shared", v: V5, wantErr: ProtocolError, rule: "MQTT-3.8.3-4", raw: []byte{
		0x82, 16, 0, 1, 0, 0, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', 0x04,
	}},
	{name: "subscribe # not last", v: V311, wantErr: TopicFilterInvalid, rule: "MQTT-4.7.1-1", raw: []byte{0x82, 8, 0, 1, 0, 3, '#', '/', 'a', 0}},
	{name: "subscribe + inside level", v: V311, wantErr: TopicFilterInvalid, rule: "MQTT-4.7.1-2", raw: []byte{0x82, 7, 0, 1, 0, 2, 'a', '+', 0}},
	{name: "subscribe empty filter", v: V311, wantErr: MalformedPacket, rule: "MQTT-4.7.3-1", raw: []byte{0x82, 5, 0, 1, 0, 0, 0}},
	{name: "subscribe shared without filter", v: V5, wantErr: ProtocolError, rule: "MQTT-4.8.2-2", raw: []byte{
		0x82, 14, 0, 1, 0, 0, 8, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', 0,
	}},
	{name: "subscribe two subscription ids", v: V5, wantErr: ProtocolError, rule: "MQTT-2.2.2-2", raw: []byte{
		0x82, 10, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 0,
	}},
	{name: "subscribe subscription id 0", v: V5, wantErr: MalformedPacket, raw: []byte{0x82, 8, 0, 1, 2, 0x0B, 0, 0, 1, 'a', 0}},
	{name: "suback 3.1.1", v: V311, pkt: &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, UnspecifiedError}}, raw: []byte{
		0x90, 4, 0, 10, 0x01, 0x80,
	}},
	{name: "suback 5.0 with reason string", v: V5, pkt: &Suback{PacketID: 11, Props: Properties{ReasonString: "bad expression at 3"},
		ReasonCodes: []ReasonCode{GrantedQoS2, TopicFilterInvalid, NotAuthorized}}, raw: []byte{
		0x90, 28, 0, 11,
		22, 0x1F, 0, 19, 'b', 'a', 'd', ' ', 'e', 'x', 'p', 'r', 'e', 's', 's', 'i', 'o', 'n', ' ', 'a', 't', ' ', '3',
		0x02, 0x8F, 0x87,
	}},
	{name: "suback 3.1.1 invalid code", v: V311, wantErr: MalformedPacket, raw: []byte{0x90, 3, 0, 1, 0x87}},

	// ---------------- UNSUBSCRIBE / UNSUBACK ----------------
	{name: "unsubscribe 3.1.1", v: V311, pkt: &Unsubscribe{PacketID: 5, Filters: []string{"a/#", "b"}}, raw: []byte{
		0xA2, 10, 0, 5, 0, 3, 'a', '/', '#', 0, 1, 'b',
	}},
	{name: "unsubscribe 5.0 with user property", v: V5, pkt: &Unsubscribe{PacketID: 6, Props: Properties{User: []UserProperty{{"k", "v"}}}, Filters: []string{"x"}}, raw: []byte{
		0xA2, 13, 0, 6, 7, 0x26, 0, 1, 'k', 0, 1, 'v', 0, 1, 'x',
	}},
	{name: "unsubscribe no filters", v: V5, wantErr: MalformedPacket, rule: "MQTT-3.10.3-2", raw: []byte{0xA2, 3, 0, 1, 0}},
	{name: "unsuback 3.1.1", v: V311, pkt: &Unsuback{PacketID: 5}, raw: []byte{0xB0, 2, 0, 5}},
	{name: "unsuback 5.0", v: V5, pkt: &Unsuback{PacketID: 6, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}}, raw: []byte{
		0xB0, 5, 0, 6, 0, 0x00, 0x11,
	}},

	// ---------------- PING, DISCONNECT, AUTH ----------------
	{name: "pingreq", v: V311, pkt: &Pingreq{}, raw: []byte{0xC0, 0}},
	{name: "pingreq 5.0", v: V5, pkt: &Pingreq{}, raw: []byte{0xC0, 0}},
	{name: "pingresp", v: V5, pkt: &Pingresp{}, raw: []byte{0xD0, 0}},
	{name: "pingreq with body", v: V311, wantErr: MalformedPacket, raw: []byte{0xC0, 1, 0}},
	{name: "disconnect 3.1.1", v: V311, pkt: &Disconnect{}, raw: []byte{0xE0, 0}},
	{name: "disconnect 5.0 normal short form", v: V5, pkt: &Disconnect{}, raw: []byte{0xE0, 0}},
	{name: "disconnect 5.0 with will", v: V5, pkt: &Disconnect{ReasonCode: DisconnectWithWill}, raw: []byte{0xE0, 1, 0x04}}, // no property length after a lone reason code
	{name: "disconnect 5.0 all properties", v: V5, pkt: &Disconnect{ReasonCode: SessionTakenOver, Props: Properties{
		SessionExpiry: 0, Present: PropSet(0).Add(PropSessionExpiry), ReasonString: "taken", ServerReference: "s2",
		User: []UserProperty{{"a", "b"}}}}, raw: []byte{
		0xE0, 27, 0x8E,
		25,               // property length
		0x11, 0, 0, 0, 0, // session expiry 0 (explicit)
		0x1C, 0, 2, 's', '2', // server reference
		0x1F, 0, 5, 't', 'a', 'k', 'e', 'n', // reason string
		0x26, 0, 1, 'a', 0, 1, 'b',
	}},
	{name: "disconnect 3.1.1 with body", v: V311, wantErr: MalformedPacket, raw: []byte{0xE0, 1, 0}},
	{name: "auth 5.0", v: V5, pkt: &Auth{ReasonCode: ContinueAuthentication, Props: Properties{AuthMethod: "SCRAM", AuthData: []byte{1, 2, 3},
		ReasonString: "more", User: []UserProperty{{"k", "v"}}}}, raw: []byte{
		0xF0, 30, 0x18,
		28,
		0x15, 0, 5, 'S', 'C', 'R', 'A', 'M',
		0x16, 0, 3, 1, 2, 3,
		0x1F, 0, 4, 'm', 'o', 'r', 'e',
		0x26, 0, 1, 'k', 0, 1, 'v',
	}},
	{name: "auth in 3.1.1", v: V311, wantErr: MalformedPacket, raw: []byte{0xF0, 0}},

	// ---------------- fixed header ----------------
	{name: "reserved type 0", v: V311, wantErr: MalformedPacket, raw: []byte{0x00, 0}},
	{name: "remaining length 5 bytes", v: V311, wantErr: MalformedPacket, rule: "MQTT-1.5.5-1", raw: []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},
	{name: "first packet not connect", v: 0, wantErr: ProtocolError, rule: "MQTT-3.1.0-1", raw: []byte{0xC0, 0}},
}

type rawPacket struct {
	name    string
	v       Version    // version the stream is in; 0 for CONNECT, which sets it
	raw     []byte     // the bytes on the wire
	pkt     Packet     // what they decode to (valid cases)
	wantErr ReasonCode // the failure (invalid cases)
	rule    string     // the conformance statement the failure cites, when one does
}
