//go:build race

package broker_test

// raceEnabled: the race detector's shadow memory is never given back, so
// RSS cannot be compared with a baseline; the Go heap still can.
const raceEnabled = true
