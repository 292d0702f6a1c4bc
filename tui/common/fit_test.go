package common

import "testing"

// TestFitExactWidth: Fit's result is exactly the width asked, by the
// count Width makes, including where TruncateWc (grapheme clusters) would
// keep a cell too many: a spacing mark after a space.
func TestFitExactWidth(t *testing.T) {
	for _, raw := range []string{"} ꯣ́\r\u009b🏽", "x/} ꯣ́\r\u009b🏽", "\x00́\u009bé\xe2\x80é\u202eꯣ🇩]️́🇩a]}[1,",
		"\x1b[31m} ꯣ́ red\x1b[0m tail", "plain text that is long", "温度温度温度"} {
		s := Safe(raw)
		if raw[0] == 0x1b {
			s = raw // styled input: Safe would escape the styling
		}
		for n := 1; n < 30; n++ {
			if w := Width(Fit(s, n)); w != n {
				t.Errorf("Fit(%q, %d) = %q, %d cells", s, n, Fit(s, n), w)
			}
		}
	}
}
