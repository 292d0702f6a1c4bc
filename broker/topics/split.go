package topics

// MaxLevels is the deepest topic the index accepts: flespi's limit of 24
// levels, which also lets [Split] work on a stack array.
const MaxLevels = 24

// Levels holds a topic split at '/'. It is an array so a split lives on the
// caller's stack: routing a message must not allocate.
type Levels struct {
	a [MaxLevels]string
	n int
}

// Split splits topic into levels. It reports false when the topic has more
// than [MaxLevels] levels. The strings alias topic.
func Split(topic string, l *Levels) bool {
	l.n = 0
	start := 0
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			if l.n == MaxLevels {
				return false
			}
			l.a[l.n] = topic[start:i]
			l.n++
			start = i + 1
		}
	}
	if l.n == MaxLevels {
		return false
	}
	l.a[l.n] = topic[start:]
	l.n++
	return true
}

// Len is the number of levels.
func (l *Levels) Len() int { return l.n }

// At returns level i.
func (l *Levels) At(i int) string { return l.a[i] }

// Slice returns the levels as a slice of the array (no copy).
func (l *Levels) Slice() []string { return l.a[:l.n] }

// CountLevels returns the number of levels of a topic or filter.
func CountLevels(topic string) int {
	n := 1
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			n++
		}
	}
	return n
}
