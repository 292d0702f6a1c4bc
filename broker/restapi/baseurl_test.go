package restapi

import "testing"

// TestBaseURL: the addresses users give become base URLs; a mistyped one is
// an error at once (before, "abc def", "99999" and "ftp://x:1" became URLs
// whose every request failed later, in the board's pane).
func TestBaseURL(t *testing.T) {
	for addr, want := range map[string]string{
		"9080":                       "http://127.0.0.1:9080",
		"127.0.0.1:9080":             "http://127.0.0.1:9080",
		"localhost:9080":             "http://localhost:9080",
		"[::1]:9080":                 "http://[::1]:9080",
		"http://10.0.0.2:9080/":      "http://10.0.0.2:9080",
		"https://broker.example.com": "https://broker.example.com",
	} {
		if got, err := BaseURL(addr); err != nil || got != want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for _, addr := range []string{"", "abc def", "99999", "0", "ftp://x:1", "mqtt://127.0.0.1:1883", "127.0.0.1:abc", "http://", "http://h:70000", "host name:80"} {
		if got, err := BaseURL(addr); err == nil {
			t.Errorf("BaseURL(%q) = %q, want an error", addr, got)
		}
	}
}
