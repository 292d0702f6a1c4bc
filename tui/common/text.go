package common

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Fit cuts or pads s to exactly width cells, so rows never wrap and
// break the layout. Widths are counted by code point (wcwidth), as tmux,
// xterm and VTE draw them; Safe has removed the sequences where terminals
// disagree with that count.
func Fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	s = Cut(s, width)
	return s + strings.Repeat(" ", max(width-Width(s), 0))
}

// Cut shortens s to at most width cells, ending it with "…" when it cut.
func Cut(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if Width(s) <= width {
		return s
	}
	t := ansi.TruncateWc(s, width, "…")
	if Width(t) > width {
		// TruncateWc walks grapheme clusters, and a spacing mark after a
		// space ("} ꯣ́") can make it keep a cell more than the
		// per-code-point count: cut by code point instead.
		t = cutRunes(s, width)
	}
	return t
}

// cutRunes cuts s to width-1 cells counted code point by code point, as
// Width counts, keeping its SGR styling, and ends it with "…" (and a reset
// when a style was open, so it does not bleed into the border).
func cutRunes(s string, width int) string {
	var b strings.Builder
	w, styled := 0, false
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			if j := sgrEnd(s, i); j > 0 {
				b.WriteString(s[i:j])
				styled = true
				i = j
				continue
			}
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		rw := ansi.StringWidthWc(s[i : i+n])
		if r == utf8.RuneError && n <= 1 {
			rw = 1
		}
		if w+rw > width-1 {
			break
		}
		b.WriteString(s[i : i+n])
		w += rw
		i += n
	}
	if styled {
		b.WriteString("\x1b[0m")
	}
	b.WriteString("…")
	return b.String()
}

// Width is the number of cells s takes, styling ignored, counted as Fit
// counts.
func Width(s string) int { return ansi.StringWidthWc(s) }

// Lines fits lines into a width×height block: each cut or padded to width,
// missing lines blank, extra lines dropped.
func Lines(lines []string, width, height int) string {
	if height <= 0 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < height; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i < len(lines) {
			b.WriteString(Fit(lines[i], width))
		} else {
			b.WriteString(strings.Repeat(" ", max(width, 0)))
		}
	}
	return b.String()
}
