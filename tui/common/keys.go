package common

import "github.com/charmbracelet/bubbles/key"

// GlobalKeys work in every pane unless a text field is being edited (then
// only Quit, Next and Prev do).
type GlobalKeys struct {
	Quit      key.Binding
	Next      key.Binding
	Prev      key.Binding
	Help      key.Binding
	PacketLog key.Binding
	TopicTree key.Binding
	Broker    key.Binding
	SaveBoard key.Binding
}

// ConnectionKeys are the connections pane's keys.
type ConnectionKeys struct {
	Up, Down   key.Binding
	Add        key.Binding
	AddLocal   key.Binding
	Edit       key.Binding
	Clone      key.Binding
	Remove     key.Binding
	Toggle     key.Binding // connect / disconnect
	Reconnect  key.Binding
	Properties key.Binding // show server properties
}

// SubscriptionKeys are the subscriptions pane's keys.
type SubscriptionKeys struct {
	Up, Down key.Binding
	Add      key.Binding
	Remove   key.Binding
}

// MessageKeys are the message list's keys.
type MessageKeys struct {
	Up, Down, PageUp, PageDown key.Binding
	Top, Follow                key.Binding
	TopicFilter, Search        key.Binding
	Pause, Clear               key.Binding
	View, Details, Preview     key.Binding
	Copy, CopyMessage, Export  key.Binding
	All                        key.Binding // all connections / focused connection
}

// DetailKeys are the keys of the full-screen view of one message.
type DetailKeys struct {
	Up, Down, PageUp, PageDown key.Binding
	Top, Bottom                key.Binding
	View                       key.Binding // text / JSON / hex
	Fold                       key.Binding // fold or unfold the JSON object or array at the cursor
	FoldAll                    key.Binding
	Copy, CopyMessage          key.Binding
	Close                      key.Binding
}

// PublishKeys are the publish form's keys.
type PublishKeys struct {
	Up, Down    key.Binding
	Edit        key.Binding // start editing the field / toggle it
	Done        key.Binding // stop editing
	Send        key.Binding
	HistoryPrev key.Binding
	HistoryNext key.Binding
}

// PacketKeys are the packet log's keys.
type PacketKeys struct {
	Up, Down, Follow key.Binding
	Clear            key.Binding
	Open             key.Binding // the selected line's full decode
}

// TopicKeys are the topic tree's keys.
type TopicKeys struct {
	Up, Down key.Binding
	Expand   key.Binding
	Field    key.Binding // next numeric field for the sparkline
	History  key.Binding // the selected topic's recent messages
	Diff     key.Binding // in the history: the selected payload against the one before
	Delete   key.Binding // delete retained messages under the node
	Confirm  key.Binding
	Cancel   key.Binding
}

// FormKeys are the keys of a modal form (connection, subscription, board).
type FormKeys struct {
	Up, Down  key.Binding
	Edit      key.Binding
	Done      key.Binding
	Submit    key.Binding
	Cancel    key.Binding
	RemoveRow key.Binding // a key/value row (user properties)
}

// KeyMap is every key of the board, by scope. Keys of one scope never
// repeat (TestNoDuplicateKeys), and no pane key is a global key.
type KeyMap struct {
	Global       GlobalKeys
	Connections  ConnectionKeys
	Subscription SubscriptionKeys
	Messages     MessageKeys
	Publish      PublishKeys
	Packets      PacketKeys
	Topics       TopicKeys
	Form         FormKeys
	Detail       DetailKeys
}

func k(help string, desc string, keys ...string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
}

// DefaultKeyMap returns the board's keys. Letters follow mqttui and k9s
// habits: a add, e edit, x remove, / filter, enter act.
func DefaultKeyMap() KeyMap {
	up := k("↑/k", "up", "up", "k")
	down := k("↓/j", "down", "down", "j")
	return KeyMap{
		Global: GlobalKeys{
			Quit:      k("ctrl+c", "quit", "ctrl+c"),
			Next:      k("tab", "next pane", "tab"),
			Prev:      k("shift+tab", "prev pane", "shift+tab"),
			Help:      k("?", "all keys", "?"),
			PacketLog: k("L", "packet log", "L"),
			TopicTree: k("T", "topic tree", "T"),
			Broker:    k("B", "bundled broker", "B"),
			SaveBoard: k("ctrl+b", "save board", "ctrl+b"),
		},
		Connections: ConnectionKeys{
			Up: up, Down: down,
			Add:        k("a", "add", "a"),
			AddLocal:   k("l", "local broker", "l"),
			Edit:       k("e", "edit", "e"),
			Clone:      k("c", "clone", "c"),
			Remove:     k("x", "remove", "x"),
			Toggle:     k("enter", "connect/disconnect", "enter"),
			Reconnect:  k("r", "reconnect", "r"),
			Properties: k("i", "server info", "i"),
		},
		Subscription: SubscriptionKeys{
			Up: up, Down: down,
			Add:    k("a", "subscribe", "a"),
			Remove: k("x", "unsubscribe", "x"),
		},
		Messages: MessageKeys{
			Up: up, Down: down,
			PageUp:      k("pgup", "page up", "pgup"),
			PageDown:    k("pgdn", "page down", "pgdown"),
			Top:         k("g", "oldest", "g", "home"),
			Follow:      k("G", "follow", "G", "end"),
			TopicFilter: k("/", "topic filter", "/"),
			Search:      k("s", "payload search", "s"),
			Pause:       k("p", "pause", "p", " "),
			Clear:       k("c", "clear", "c"),
			View:        k("v", "text/json/hex", "v"),
			Details:     k("enter", "full details", "enter"),
			Preview:     k("d", "preview on/off", "d"),
			Copy:        k("y", "copy payload", "y"),
			CopyMessage: k("Y", "copy message json", "Y"),
			Export:      k("e", "export jsonl", "e"),
			All:         k("a", "all conns/focused", "a"),
		},
		Publish: PublishKeys{
			Up: up, Down: down,
			Edit:        k("enter", "edit/toggle", "enter"),
			Done:        k("esc", "done", "esc"),
			Send:        k("ctrl+s", "publish", "ctrl+s"),
			HistoryPrev: k("[", "older sent", "["),
			HistoryNext: k("]", "newer sent", "]"),
		},
		Packets: PacketKeys{
			Up: up, Down: down,
			Follow: k("G", "follow", "G", "end"),
			Clear:  k("c", "clear", "c"),
			Open:   k("enter", "full decode", "enter"),
		},
		Topics: TopicKeys{
			Up: up, Down: down,
			Expand:  k("enter", "expand", "enter", "right", "left"),
			Field:   k("f", "sparkline field", "f"),
			History: k("h", "topic history", "h"),
			Diff:    k("d", "diff with previous", "d"),
			Delete:  k("D", "delete retained", "D"),
			Confirm: k("y", "confirm", "y"),
			Cancel:  k("n", "cancel", "n", "esc"),
		},
		Detail: DetailKeys{
			Up: up, Down: down,
			PageUp:      k("pgup", "page up", "pgup", "b"),
			PageDown:    k("pgdn/space", "page down", "pgdown", " "),
			Top:         k("g", "top", "g", "home"),
			Bottom:      k("G", "bottom", "G", "end"),
			View:        k("v", "text/json/hex", "v"),
			Fold:        k("enter", "fold/unfold json", "enter"),
			FoldAll:     k("z", "fold all/none", "z"),
			Copy:        k("y", "copy payload", "y"),
			CopyMessage: k("Y", "copy message json", "Y"),
			Close:       k("esc/q", "close", "esc", "q"),
		},
		Form: FormKeys{
			Up:        k("↑", "field up", "up"),
			Down:      k("↓", "field down", "down"),
			Edit:      k("enter", "edit/toggle", "enter"),
			Done:      k("esc", "done/cancel", "esc"),
			Submit:    k("ctrl+s", "save", "ctrl+s"),
			Cancel:    k("ctrl+x", "cancel", "ctrl+x"),
			RemoveRow: k("x", "remove row", "x", "delete"),
		},
	}
}
