// Package profiles stores named connection profiles and boards (a saved set
// of connections with their subscriptions and the board's layout) in one
// JSON file under os.UserConfigDir, so `mqttboard --profile NAME` and
// `mqttboard --board NAME` find what the user saved.
package profiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// UserProperty is one MQTT 5 user property as saved in the file.
type UserProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Will is a connection's will message.
type Will struct {
	Topic   string         `json:"topic"`
	Payload string         `json:"payload,omitempty"`
	QoS     byte           `json:"qos,omitempty"`
	Retain  bool           `json:"retain,omitempty"`
	Delay   uint32         `json:"delay,omitempty"` // will delay interval, seconds
	User    []UserProperty `json:"user_properties,omitempty"`
}

// Subscription is a saved topic filter with its MQTT 5 options.
type Subscription struct {
	Filter            string         `json:"filter"`
	QoS               byte           `json:"qos,omitempty"`
	NoLocal           bool           `json:"no_local,omitempty"`
	RetainAsPublished bool           `json:"retain_as_published,omitempty"`
	RetainHandling    byte           `json:"retain_handling,omitempty"`
	ID                int            `json:"id,omitempty"` // subscription identifier, 0: none
	User              []UserProperty `json:"user_properties,omitempty"`
}

// Profile is one broker connection: everything CONNECT needs. The zero
// value of every field means the client's default.
type Profile struct {
	Name string `json:"name"`
	// Local means "the bundled broker started in-process"; URL is then
	// filled in when the broker is listening.
	Local    bool   `json:"local,omitempty"`
	URL      string `json:"url,omitempty"`
	Version  string `json:"version,omitempty"` // "3.1", "3.1.1" or "5" (default)
	ClientID string `json:"client_id,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	CAFile   string `json:"cafile,omitempty"`
	CertFile string `json:"cert,omitempty"`
	KeyFile  string `json:"key,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`

	KeepAlive  int  `json:"keepalive,omitempty"`  // seconds; 0: default
	Persistent bool `json:"persistent,omitempty"` // clean start false
	// MQTT 5 CONNECT properties; 0 means not sent.
	SessionExpiry       uint32         `json:"session_expiry,omitempty"`
	ReceiveMaximum      uint16         `json:"receive_maximum,omitempty"`
	MaximumPacketSize   uint32         `json:"maximum_packet_size,omitempty"`
	TopicAliasMaximum   uint16         `json:"topic_alias_maximum,omitempty"`
	RequestResponseInfo bool           `json:"request_response_info,omitempty"`
	User                []UserProperty `json:"user_properties,omitempty"`
	Will                *Will          `json:"will,omitempty"`
}

// Validate reports the first thing wrong with p, naming the field.
func (p *Profile) Validate() error {
	if p.Name == "" {
		return errors.New("profile: name is empty")
	}
	if !p.Local && p.URL == "" {
		return fmt.Errorf("profile %q: url is empty (set url, or local: true for the bundled broker)", p.Name)
	}
	switch p.Version {
	case "", "5", "3.1.1", "3.1":
	default:
		return fmt.Errorf("profile %q: version %q is not one of 3.1, 3.1.1, 5", p.Name, p.Version)
	}
	if p.Will != nil && p.Will.Topic == "" {
		return fmt.Errorf("profile %q: will has no topic", p.Name)
	}
	return nil
}

// BoardConnection is one connection of a board with its subscriptions.
type BoardConnection struct {
	Profile
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
}

// Layout is how the board was arranged when it was saved.
type Layout struct {
	PacketLog bool   `json:"packet_log,omitempty"` // packet log pane shown
	TopicTree bool   `json:"topic_tree,omitempty"` // topic tree in place of the message list
	Focus     string `json:"focus,omitempty"`      // name of the focused pane
}

// Board is a saved board: its connections, their subscriptions and layout.
type Board struct {
	Name        string            `json:"name"`
	Connections []BoardConnection `json:"connections"`
	Layout      Layout            `json:"layout"`
}

// File is the whole profiles file.
type File struct {
	Profiles []Profile `json:"profiles,omitempty"`
	Boards   []Board   `json:"boards,omitempty"`
}

// DefaultPath is $XDG_CONFIG_HOME/mqttboard/profiles.json (or the OS's
// equivalent of os.UserConfigDir).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("profiles: no config directory: %w", err)
	}
	return filepath.Join(dir, "mqttboard", "profiles.json"), nil
}

// Load reads the file at path. A missing file is an empty File, not an
// error: that is every first run.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("profiles: %s is not valid: %w", path, err)
	}
	return &f, nil
}

// Save writes f to path atomically (a temporary file renamed over it), so a
// crash never leaves half a file, and with mode 0600 because profiles hold
// passwords.
func Save(path string, f *File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".profiles-*.json")
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("profiles: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("profiles: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	return nil
}

// Profile returns the profile called name.
func (f *File) Profile(name string) (*Profile, bool) {
	i := slices.IndexFunc(f.Profiles, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return nil, false
	}
	return &f.Profiles[i], true
}

// Board returns the board called name.
func (f *File) Board(name string) (*Board, bool) {
	i := slices.IndexFunc(f.Boards, func(b Board) bool { return b.Name == name })
	if i < 0 {
		return nil, false
	}
	return &f.Boards[i], true
}

// PutBoard adds b, replacing a board of the same name.
func (f *File) PutBoard(b Board) {
	if i := slices.IndexFunc(f.Boards, func(o Board) bool { return o.Name == b.Name }); i >= 0 {
		f.Boards[i] = b
		return
	}
	f.Boards = append(f.Boards, b)
}

// BoardNames lists the saved boards, for error messages.
func (f *File) BoardNames() []string {
	names := make([]string, len(f.Boards))
	for i, b := range f.Boards {
		names[i] = b.Name
	}
	return names
}
