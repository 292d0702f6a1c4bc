package common

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain/topic":           "plain/topic",
		"X\x1b]2;PWNED\x07Y":    "X␛]2;PWNED␇Y",
		"\x1b[2J":               "␛[2J",
		"a\rb\tc\nd":            "a␍b␉c␊d",
		"del\x7f":               "del␡",
		"c1 \u009b31m":          `c1 \u009b31m`,
		"raw \x9b byte":         `raw \x9b byte`,
		"bidi \u202egnp.exe":    `bidi \u202egnp.exe`,
		"isolate \u2066x\u2069": `isolate \u2066x\u2069`,
		"zw\u200bsp":            `zw\u200bsp`,
		"temp 🌡️ 21":            "temp 🌡 21",
		"thumb 👍🏽":              "thumb 👍",
		"\u0301 alone":          "◌\u0301 alone",
		"café":                  "café",
		"温度":                    "温度",
		"line\u2028sep":         `line\u2028sep`,
		"private \ue000":        `private \ue000`,
		"bom \ufeff":            `bom \ufeff`,
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeLines(t *testing.T) {
	got := SafeLines("a\tb\r\n\x1b[31mred")
	want := []string{"a   b", "␛[31mred"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("SafeLines = %q, want %q", got, want)
	}
}

func TestTerminalKeepsStylingOnly(t *testing.T) {
	in := "\x1b[1;38;5;12mok\x1b[0m \x1b]2;t\x07 \x1b[2J \r \u009b \xff\n"
	want := "\x1b[1;38;5;12mok\x1b[0m ␛]2;t␇ ␛[2J ␍ \\u009b \\xff\n"
	if got := Terminal(in); got != want {
		t.Errorf("Terminal = %q, want %q", got, want)
	}
	if s := "\x1b[7mplain\x1b[0m\nrow"; Terminal(s) != s {
		t.Errorf("Terminal changed a clean frame")
	}
}

// checkSafe asserts what every Safe output holds: valid UTF-8, no control,
// format or non-graphic character, and no grapheme wider than its runes.
func checkSafe(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Safe(%q) = %q: not UTF-8", in, out)
	}
	for _, r := range out {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || !unicode.IsGraphic(r) || dropped(r) {
			t.Fatalf("Safe(%q) = %q holds %U", in, out, r)
		}
	}
	// The board measures by code point, as tmux, xterm and VTE draw; a
	// grapheme measure (bubbletea's renderer cuts lines with it) must never
	// count more, or the renderer would cut the pane's right border.
	if g, w := ansi.StringWidth(out), ansi.StringWidthWc(out); g > w {
		t.Fatalf("Safe(%q) = %q: width %d by grapheme, %d by code point", in, out, g, w)
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"X\x1b]2;PWNED\x07Y", "🌡️", "👍🏽", "👨‍👩‍👧", "🇩🇪", "e\u0301", "\u202e", "\xff\xfe", "a\tb\nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSafe(t, s, Safe(s))
		for _, l := range SafeLines(s) {
			checkSafe(t, s, l)
		}
		out := Terminal(s)
		if strings.ContainsAny(ansi.Strip(out), "\x1b\r\x07") {
			t.Fatalf("Terminal(%q) = %q holds a control", s, out)
		}
	})
}
