package restapi

import (
	"net/http"

	"github.com/mqttboard/mqttboard/broker"
)

// logsQuery is the data= parameter of GET /mqtt/logs, as flespi takes it.
type logsQuery struct {
	Count   *int    `json:"count"`
	Reverse bool    `json:"reverse"`
	From    float64 `json:"from"`
	To      float64 `json:"to"`
	AfterID uint64  `json:"after_id"`
	Filter  string  `json:"filter"`
}

// defaultLogCount is how many records a GET /mqtt/logs without count
// returns.
const defaultLogCount = 100

// GET /mqtt/logs?data={"count":N,"reverse":true,"filter":"...","from":T,"to":T,"after_id":ID}
func (a *API) getLogs(w http.ResponseWriter, r *http.Request) {
	var q logsQuery
	if d := r.URL.Query().Get("data"); d != "" {
		if err := strictJSON([]byte(d), &q); err != nil {
			writeError(w, http.StatusBadRequest, "data: "+err.Error())
			return
		}
	}
	bq := broker.LogQuery{Count: defaultLogCount, Reverse: q.Reverse, From: q.From, To: q.To, AfterID: q.AfterID, Filter: q.Filter}
	if q.Count != nil {
		bq.Count = *q.Count
	}
	recs, err := a.srv.Logs(bq)
	if err != nil {
		writeBrokerError(w, err)
		return
	}
	writeResult(w, recs)
}
