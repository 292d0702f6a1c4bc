package common

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Safe makes a string from the network (payload, topic, user property,
// reason string, client id, CONNACK property, error, log line) safe to put
// on one row of the terminal. It is the only way such a string reaches a
// View: the board shows traffic it does not control, and a publisher must
// not be able to retitle, clear or redraw the watcher's terminal.
//
//   - C0 controls and DEL show as their Control Pictures (ESC as ␛, LF as ␊,
//     TAB as ␉, DEL as ␡): one cell each, visibly not the character.
//   - C1 controls (U+0080–U+009F), bidi overrides and isolates, zero-width
//     and other format characters (Unicode category Cf), line and paragraph
//     separators, private-use and unassigned code points show as \uXXXX.
//   - Bytes that are not UTF-8 show as \xNN.
//   - Variation selectors (U+FE00–FE0F, U+E0100–E01EF) and emoji skin-tone
//     modifiers are dropped: terminals disagree on the width of 🌡️ (tmux
//     3.3 draws one cell, grapheme-aware libraries count two) and of 👍🏽
//     (two or four), so a row holding one would push or pull the pane's
//     border. Without them every measure agrees. The hex view and the
//     copied payload keep the original bytes.
//   - A combining mark at the start gets a dotted circle (◌) to sit on, so
//     it cannot join the border or the cell before it.
//
// After Safe, no grapheme cluster is wider than its code points (Fit counts
// by code point, as tmux, xterm and VTE draw), which is what lets Fit cut
// rows to the pane's exact width.
func Safe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return safeSlow(s)
		}
	}
	return s
}

func safeSlow(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
			i++
			continue
		}
		start := i == 0
		i += n
		if isRI(r) {
			// A flag is a pair of regional indicators; a lone one is two
			// cells to some measures and one to others.
			if r2, n2 := utf8.DecodeRuneInString(s[i:]); isRI(r2) {
				b.WriteRune(r)
				b.WriteRune(r2)
				i += n2
			} else {
				writeEscaped(&b, r)
			}
			continue
		}
		writeSafeRune(&b, r, start)
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

func writeSafeRune(b *strings.Builder, r rune, start bool) {
	switch {
	case r < 0x20:
		b.WriteRune(0x2400 + r) // ␀ … ␟
	case r == 0x7f:
		b.WriteRune('␡')
	case r < 0x7f:
		b.WriteByte(byte(r))
	case dropped(r):
	case !unicode.IsGraphic(r):
		// C1, Cf (bidi controls, ZWJ, ZWSP, BOM, soft hyphen, tags),
		// Zl, Zp, Co, Cn.
		writeEscaped(b, r)
	case start && unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
		b.WriteRune('◌')
		b.WriteRune(r)
	default:
		b.WriteRune(r)
	}
}

func writeEscaped(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	h := strconv.FormatInt(int64(r), 16)
	if len(h) < 4 {
		b.WriteString(strings.Repeat("0", 4-len(h)))
	}
	b.WriteString(h)
}

func isRI(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }

// dropped are the presentation selectors whose width terminals disagree on.
func dropped(r rune) bool {
	return (r >= 0xfe00 && r <= 0xfe0f) || (r >= 0xe0100 && r <= 0xe01ef) || (r >= 0x1f3fb && r <= 0x1f3ff)
}

// SafeLines splits a multi-line text from the network into safe rows: LF
// (and CRLF) end a row, a tab becomes spaces to the next multiple of 4, and
// each row is made Safe.
func SafeLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if strings.IndexByte(l, '\t') >= 0 {
			l = expandTabs(l)
		}
		lines[i] = Safe(l)
	}
	return lines
}

func expandTabs(s string) string {
	var b strings.Builder
	col := 0
	for _, r := range s {
		if r == '\t' {
			n := 4 - col%4
			b.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// Terminal is the last guard before a frame goes to the terminal: it keeps
// text, newlines and the board's own styling (SGR sequences, ESC [ params m)
// and shows any other control visibly, as Safe does. Every View already
// renders network strings through Safe; this catches what a future change
// forgets, so one slip cannot hand a publisher the terminal.
func Terminal(frame string) string {
	clean := true
	for i := 0; i < len(frame) && clean; i++ {
		c := frame[i]
		switch {
		case c == 0x1b:
			j := sgrEnd(frame, i)
			if j < 0 {
				clean = false
			} else {
				i = j - 1
			}
		case c == '\n':
		case c < 0x20 || c == 0x7f:
			clean = false
		case c >= 0x80:
			// C1 as UTF-8 (C2 80–C2 9F) and invalid bytes.
			if c == 0xc2 && i+1 < len(frame) && frame[i+1] >= 0x80 && frame[i+1] < 0xa0 {
				clean = false
			} else if !utf8.FullRuneInString(frame[i:]) {
				clean = false
			} else if r, n := utf8.DecodeRuneInString(frame[i:]); r == utf8.RuneError && n <= 1 {
				clean = false
			}
		}
	}
	if clean {
		return frame
	}
	var b strings.Builder
	for i := 0; i < len(frame); {
		c := frame[i]
		if c == 0x1b {
			if j := sgrEnd(frame, i); j > 0 {
				b.WriteString(frame[i:j])
				i = j
				continue
			}
		}
		if c == '\n' {
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(frame[i:])
		if r == utf8.RuneError && n <= 1 {
			b.WriteString(`\x` + hex2(c))
			i++
			continue
		}
		switch {
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune('␡')
		case r >= 0x80 && r < 0xa0:
			b.WriteString(`\u00` + hex2(byte(r)))
		default:
			b.WriteString(frame[i : i+n])
		}
		i += n
	}
	return b.String()
}

// sgrEnd returns the end of the SGR sequence (ESC [ digits/;/: m) at i, or
// -1 when the ESC at i starts anything else.
func sgrEnd(s string, i int) int {
	if i+1 >= len(s) || s[i+1] != '[' {
		return -1
	}
	for j := i + 2; j < len(s); j++ {
		switch c := s[j]; {
		case c >= '0' && c <= '9', c == ';', c == ':':
		case c == 'm':
			return j + 1
		default:
			return -1
		}
	}
	return -1
}
