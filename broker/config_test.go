package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
)

func TestConfigYAML(t *testing.T) {
	cfg, err := broker.ParseConfig("b.yaml", []byte(`stamp: false
limits:
  max_keep_alive: 120
acl:
  default: deny
  rules:
    - {username: reader, action: subscribe, allow: true, topics: ["#"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	var o broker.Options
	cfg.Apply(&o)
	if !o.NoStamp || o.MaxKeepAlive != 120 || o.ACL == nil || len(o.ACL.Rules) != 1 || o.ACL.Rules[0].Username != "reader" {
		t.Fatalf("options %+v", o)
	}
	cfg, _ = broker.ParseConfig("b.yaml", []byte("limits: {max_payload: 10}\n"))
	o = broker.Options{}
	cfg.Apply(&o)
	if o.NoStamp {
		t.Fatal("stamping is on unless the file says stamp: false")
	}
	_, err = broker.ParseConfig("b.yaml", []byte("limits:\n  max_paylod: 10\n"))
	if err == nil || !strings.Contains(err.Error(), "b.yaml:2:3") || !strings.Contains(err.Error(), "max_paylod") {
		t.Fatalf("error %v, want file:line:col and the key", err)
	}
}

// TestConfigLifecycleLimits: the lifecycle limits load (timeouts in
// seconds), absent ones keep the defaults, negative ones are errors.
func TestConfigLifecycleLimits(t *testing.T) {
	cfg, err := broker.ParseConfig("b.yaml", []byte(`limits:
  connect_timeout: 5
  packet_timeout: 20
  write_timeout: 15
  max_connect_size: 65536
  max_connecting_bytes: 1048576
`))
	if err != nil {
		t.Fatal(err)
	}
	var o broker.Options
	cfg.Apply(&o)
	if o.ConnectTimeout != 5*time.Second || o.PacketTimeout != 20*time.Second || o.WriteTimeout != 15*time.Second ||
		o.MaxConnectSize != 65536 || o.MaxConnectingBytes != 1<<20 {
		t.Fatalf("options %+v", o)
	}
	if _, err := broker.ParseConfig("b.yaml", []byte("limits: {write_timeout: -1}\n")); err == nil || !strings.Contains(err.Error(), "write_timeout") {
		t.Fatalf("error %v, want one naming write_timeout", err)
	}
}

// TestConfigHTTPAndLogs: the http and logs keys.
func TestConfigHTTPAndLogs(t *testing.T) {
	c, err := broker.ParseConfig("b.yaml", []byte("http:\n  listen: 127.0.0.1:9080\n  tls: true\nlogs:\n  records: 10\n  mqtt: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	var o broker.Options
	c.Apply(&o)
	if c.HTTP == nil || c.HTTP.Listen != "127.0.0.1:9080" || !c.HTTP.TLS || o.LogRecords != 10 || !o.NoLogTopics {
		t.Fatalf("%+v %+v", c.HTTP, o)
	}
	if _, err := broker.ParseConfig("b.yaml", []byte("http:\n  listen: x\n  colour: red\n")); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown key under http: %v", err)
	}
}
