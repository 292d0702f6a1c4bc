package common

import (
	"strings"

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
	w := Width(s)
	if w > width {
		s = ansi.TruncateWc(s, width, "…")
		w = Width(s)
	}
	return s + strings.Repeat(" ", max(width-w, 0))
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
