package restapi_test

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/restapi"
)

// BenchmarkScrape measures one /metrics scrape of a broker holding 1,000
// offline sessions with a subscription each and 1,000 retained messages:
// what a 1 Hz scraper costs the broker per second. The message path pays
// nothing for it (the figures are read here, not counted there).
func BenchmarkScrape(b *testing.B) {
	srv := broker.New(broker.Options{SysInterval: -1, LogRecords: -1})
	defer srv.Close()
	for i := range 1000 {
		id := fmt.Sprint("s", i)
		if err := srv.CreateSession(id, 3600); err != nil {
			b.Fatal(err)
		}
		if err := srv.Subscribe(id, []broker.SubscriptionInfo{{Filter: fmt.Sprint("t/", i, "/#"), QoS: 1}}); err != nil {
			b.Fatal(err)
		}
		if _, err := srv.Publish(broker.PublishMessage{Topic: fmt.Sprint("r/", i), Payload: make([]byte, 64), Retain: true}); err != nil {
			b.Fatal(err)
		}
	}
	api := restapi.New(srv, restapi.Options{})
	for _, path := range []string{"/metrics", "/mqtt/sessions/all"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
