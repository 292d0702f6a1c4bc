package conn

import (
	"slices"
	"strings"

	"github.com/mqttboard/mqttboard/client"
)

// TopicHistorySize is how many recent messages a topic node keeps for its
// history view and sparkline.
const TopicHistorySize = 64

// Topic is a node of the topic tree: one topic level.
type Topic struct {
	Name     string // this level
	Path     string // full topic
	Children map[string]*Topic
	sorted   []*Topic // Children by name, rebuilt when a child is added
	Count    uint64   // messages on exactly this topic
	Total    uint64   // messages on this topic and below
	Last     *client.MessageEvent
	Recent   *History[*client.MessageEvent]
	Expanded bool
}

// NewTopic returns a node.
func NewTopic(name, path string) *Topic {
	return &Topic{Name: name, Path: path, Expanded: true}
}

// Add counts e on its topic, creating the nodes on the way.
func (t *Topic) Add(e *client.MessageEvent) {
	n := t
	n.Total++
	rest := e.Topic
	for {
		level, after, more := strings.Cut(rest, "/")
		child, ok := n.Children[level]
		if !ok {
			if n.Children == nil {
				n.Children = map[string]*Topic{}
			}
			path := e.Topic[:len(e.Topic)-len(rest)+len(level)]
			child = NewTopic(level, path)
			n.Children[level] = child
			n.sorted = nil
		}
		n = child
		n.Total++
		if !more {
			break
		}
		rest = after
	}
	n.Count++
	n.Last = e
	if n.Recent == nil {
		n.Recent = NewHistory[*client.MessageEvent](TopicHistorySize)
	}
	n.Recent.Add(e)
}

// Sorted returns the children ordered by name.
func (t *Topic) Sorted() []*Topic {
	if t.sorted == nil && len(t.Children) > 0 {
		t.sorted = make([]*Topic, 0, len(t.Children))
		for _, c := range t.Children {
			t.sorted = append(t.sorted, c)
		}
		slices.SortFunc(t.sorted, func(a, b *Topic) int { return strings.Compare(a.Name, b.Name) })
	}
	return t.sorted
}

// Retained lists the topics at or under t whose last message was retained:
// what deleting "the retained messages under a node" removes.
func (t *Topic) Retained() []string {
	var out []string
	var walk func(*Topic)
	walk = func(n *Topic) {
		if n.Last != nil && n.Last.Retain && len(n.Last.Payload) > 0 {
			out = append(out, n.Path)
		}
		for _, c := range n.Sorted() {
			walk(c)
		}
	}
	walk(t)
	return out
}
