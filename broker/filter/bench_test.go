package filter

import (
	"testing"

	"github.com/mqttboard/mqttboard/packet"
)

// telemetry is a typical tracker message, as flespi devices publish them.
const telemetry = `{"ident":"352093081234567","device.name":"truck-12345","timestamp":1700000000.25,` +
	`"position.latitude":54.68,"position.longitude":25.27,"position.speed":63,"position.valid":true,` +
	`"engine.ignition.status":true,"din":9,"hdop":0.9,"battery.voltage":12.7,"gsm.signal.level":87}`

var benchExprs = []struct{ name, src string }{
	{"flespi", `(hdop < 1 && (din & 0x1)) || position.speed == 0`},
	{"wildcard", `device.name == "truck-*" && position.speed > 60 && engine.ignition.status`},
}

// BenchmarkEval compares one evaluation by the closure compiler with the
// same expression compiled to an expr-lang program (see exprlang_test.go),
// on an already decoded payload.
func BenchmarkEval(b *testing.B) {
	doc := decodePayload([]byte(telemetry), telemetry)
	for _, be := range benchExprs {
		b.Run(be.name+"/closures", func(b *testing.B) {
			e, err := Compile(be.src)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !e.Test(doc) {
					b.Fatal("no match")
				}
			}
		})
		b.Run(be.name+"/exprlang", func(b *testing.B) {
			prog := compileExprLang(b, be.src)
			env := map[string]any{"doc": exprLangEnv{doc}}
			b.ReportAllocs()
			for b.Loop() {
				if v, err := runExprLang(prog, env); err != nil || !v.Truthy() {
					b.Fatal("no match", err)
				}
			}
		})
	}
}

// BenchmarkMatch is the per-message cost of a $filter subscription with a
// payload expression: decoding the JSON payload plus evaluating.
func BenchmarkMatch(b *testing.B) {
	f := mustParse(b, "$filter/cid=1&payload=device.name==%22truck-*%22%26%26position.speed>60/fleet/+/telemetry")
	payload := []byte(telemetry)
	user := []packet.UserProperty{{Key: "timestamp", Value: "1700000000.25"}}
	b.Run("decode+eval", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			m := &Message{Topic: "fleet/7/telemetry", Payload: payload, Timestamp: 1700000000.25, CID: 1, User: user}
			if !f.Match(m) {
				b.Fatal("no match")
			}
		}
	})
	// Every further filter on the same message reuses the decoded payload.
	b.Run("decoded", func(b *testing.B) {
		m := &Message{Topic: "fleet/7/telemetry", Payload: payload, Timestamp: 1700000000.25, CID: 1, User: user}
		f.Match(m)
		b.ReportAllocs()
		for b.Loop() {
			if !f.Match(m) {
				b.Fatal("no match")
			}
		}
	})
	mf := mustParse(b, "$filter/message=topic==%22fleet%2F*%22%26%26timestamp>1/fleet/+/telemetry")
	b.Run("message", func(b *testing.B) {
		m := &Message{Topic: "fleet/7/telemetry", Payload: payload, Timestamp: 1700000000.25, CID: 1, User: user}
		b.ReportAllocs()
		for b.Loop() {
			if !mf.Match(m) {
				b.Fatal("no match")
			}
		}
	})
}
