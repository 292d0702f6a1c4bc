package topics

import (
	"slices"
	"strings"

	"github.com/mqttboard/mqttboard/packet"
)

// A topic selector is flespi's filter level "a,b,c": like '+', but matching
// only the words listed. "t/a,b/e,f/x" receives t/a/e/x, t/b/f/x, ... and
// nothing else. The words are split once, when the subscription is added;
// matching a message looks a word up in a sorted list, so it costs what the
// trie walk costs, with no string splitting per message.

// IsSelector reports whether a filter level is a selector: it lists words
// separated by commas. It is [packet.IsSelector]: the trie and the one
// matcher in package packet must agree.
func IsSelector(level string) bool { return packet.IsSelector(level) }

// selector is a trie slot for one selector level.
type selector struct {
	key   string   // the words sorted and de-duplicated, joined by ',': "b,a" and "a,b" share a slot
	words []string // sorted
	node  *node
}

// parseSelector splits a selector level into its sorted distinct words and
// their canonical key.
func parseSelector(level string) (key string, words []string) {
	words = strings.Split(level, ",")
	slices.Sort(words)
	words = slices.Compact(words)
	return strings.Join(words, ","), words
}

// has reports whether word is one of the selector's words.
func (s *selector) has(word string) bool {
	_, ok := slices.BinarySearch(s.words, word)
	return ok
}

// LevelMatches reports whether one filter level matches one topic level:
// '+' matches any, a selector its listed words, a literal itself. ('#' is
// the caller's to handle: it spans levels.) It is [packet.LevelMatches].
func LevelMatches(filterLevel, word string) bool { return packet.LevelMatches(filterLevel, word) }

// SelectorWords returns the words a selector level lists, or nil for any
// other level.
func SelectorWords(level string) []string {
	if !IsSelector(level) {
		return nil
	}
	_, words := parseSelector(level)
	return words
}

// wordsOf returns the words a literal or selector level stands for.
func wordsOf(level string) []string {
	if IsSelector(level) {
		return strings.Split(level, ",")
	}
	return []string{level}
}

// LevelCovers reports whether filter level f matches every word that filter
// level s can match (neither is '#').
func LevelCovers(f, s string) bool {
	switch {
	case f == "+":
		return true
	case s == "+":
		return false
	}
	for _, w := range wordsOf(s) {
		if !LevelMatches(f, w) {
			return false
		}
	}
	return true
}

// LevelsOverlap reports whether some word matches both filter levels
// (neither is '#').
func LevelsOverlap(a, b string) bool {
	if a == "+" || b == "+" {
		return true
	}
	for _, w := range wordsOf(a) {
		if LevelMatches(b, w) {
			return true
		}
	}
	return false
}
