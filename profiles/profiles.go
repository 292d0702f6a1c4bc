// Package profiles stores named connection profiles and boards (a saved set
// of connections with their subscriptions and the board's layout) in one
// YAML file under os.UserConfigDir, so `mqttboard --profile NAME` and
// `mqttboard --board NAME` find what the user saved.
//
// The file is YAML because people edit it by hand; it is decoded with
// github.com/goccy/go-yaml, whose errors carry the line and column of the
// offending token, so a typo is reported as "profiles.yaml:7:3: ...".
package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
)

// UserProperty is one MQTT 5 user property as saved in the file.
type UserProperty struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Will is a connection's will message.
type Will struct {
	Topic   string         `yaml:"topic"`
	Payload string         `yaml:"payload,omitempty"`
	QoS     byte           `yaml:"qos,omitempty"`
	Retain  bool           `yaml:"retain,omitempty"`
	Delay   uint32         `yaml:"delay,omitempty"` // will delay interval, seconds
	User    []UserProperty `yaml:"user_properties,omitempty"`
}

// Subscription is a saved topic filter with its MQTT 5 options.
type Subscription struct {
	Filter            string         `yaml:"filter"`
	QoS               byte           `yaml:"qos,omitempty"`
	NoLocal           bool           `yaml:"no_local,omitempty"`
	RetainAsPublished bool           `yaml:"retain_as_published,omitempty"`
	RetainHandling    byte           `yaml:"retain_handling,omitempty"`
	ID                int            `yaml:"id,omitempty"` // subscription identifier, 0: none
	User              []UserProperty `yaml:"user_properties,omitempty"`
}

// Profile is one broker connection: everything CONNECT needs. The zero
// value of every field means the client's default.
type Profile struct {
	Name string `yaml:"name"`
	// Local means "the bundled broker started in-process"; URL is then
	// filled in when the broker is listening.
	Local    bool   `yaml:"local,omitempty"`
	URL      string `yaml:"url,omitempty"`
	Version  string `yaml:"version,omitempty"` // "3.1", "3.1.1" or "5" (default)
	ClientID string `yaml:"client_id,omitempty"`
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
	// PasswordEnv names an environment variable holding the password, so
	// the file need not hold a secret; Password wins when both are set.
	PasswordEnv string `yaml:"password_env,omitempty"`

	CAFile   string   `yaml:"cafile,omitempty"`
	CertFile string   `yaml:"cert,omitempty"`
	KeyFile  string   `yaml:"key,omitempty"`
	Insecure bool     `yaml:"insecure,omitempty"`
	SNI      string   `yaml:"sni,omitempty"`  // TLS server name; default: the URL's host
	ALPN     []string `yaml:"alpn,omitempty"` // TLS ALPN protocols

	KeepAlive  int  `yaml:"keepalive,omitempty"`  // seconds; 0: default
	Persistent bool `yaml:"persistent,omitempty"` // clean start false
	// MQTT 5 CONNECT properties; 0 means not sent.
	SessionExpiry       uint32         `yaml:"session_expiry,omitempty"`
	ReceiveMaximum      uint16         `yaml:"receive_maximum,omitempty"`
	MaximumPacketSize   uint32         `yaml:"maximum_packet_size,omitempty"`
	TopicAliasMaximum   uint16         `yaml:"topic_alias_maximum,omitempty"`
	RequestResponseInfo bool           `yaml:"request_response_info,omitempty"`
	User                []UserProperty `yaml:"user_properties,omitempty"`
	Will                *Will          `yaml:"will,omitempty"`
	// Publish holds the default PUBLISH properties `mqttboard pub` and
	// `mqttboard rr` send with this profile unless a flag says otherwise.
	Publish *PublishDefaults `yaml:"publish,omitempty"`
}

// PublishDefaults are a profile's default PUBLISH properties (MQTT 5),
// e.g. a content type every message to a service carries. Zero values are
// not sent.
type PublishDefaults struct {
	ContentType   string         `yaml:"content_type,omitempty"`
	MessageExpiry uint32         `yaml:"message_expiry,omitempty"` // seconds
	ResponseTopic string         `yaml:"response_topic,omitempty"`
	User          []UserProperty `yaml:"user_properties,omitempty"`
}

// PasswordValue returns the password to send: Password, else the value of
// the environment variable PasswordEnv. ok is false when the profile has
// no password; an unset PasswordEnv variable is an error naming it.
func (p *Profile) PasswordValue() (pw string, ok bool, err error) {
	switch {
	case p.Password != "":
		return p.Password, true, nil
	case p.PasswordEnv != "":
		v, set := os.LookupEnv(p.PasswordEnv)
		if !set {
			return "", false, fmt.Errorf("profile %q: password_env %s is not set in the environment", p.Name, p.PasswordEnv)
		}
		return v, true, nil
	}
	return "", false, nil
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
	Profile       `yaml:",inline"`
	Subscriptions []Subscription `yaml:"subscriptions,omitempty"`
	// PacketLog is whether this connection's packet log was on.
	PacketLog bool `yaml:"packet_log,omitempty"`
}

// Layout is how the board was arranged when it was saved.
type Layout struct {
	PacketLog bool   `yaml:"packet_log,omitempty"` // the focused connection's packet log was on (boards saved before per-connection flags)
	TopicTree bool   `yaml:"topic_tree,omitempty"` // topic tree in place of the message list
	Focus     string `yaml:"focus,omitempty"`      // name of the focused pane
}

// Board is a saved board: its connections, their subscriptions and layout.
type Board struct {
	Name        string            `yaml:"name"`
	Connections []BoardConnection `yaml:"connections"`
	Layout      Layout            `yaml:"layout"`
	// BrokerHTTP is the REST API (`mqttboard broker --http`) whose broker
	// the broker pane shows (`mqttboard --broker-http`); empty: the
	// bundled one. Its token is never saved.
	BrokerHTTP string `yaml:"broker_http,omitempty"`
}

// File is the whole profiles file.
type File struct {
	Profiles []Profile `yaml:"profiles,omitempty"`
	Boards   []Board   `yaml:"boards,omitempty"`
}

// DefaultPath is $XDG_CONFIG_HOME/mqttboard/profiles.yaml (or the OS's
// equivalent of os.UserConfigDir).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("profiles: no config directory: %w", err)
	}
	return filepath.Join(dir, "mqttboard", "profiles.yaml"), nil
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
	return Parse(path, b)
}

// Parse decodes a profiles file's content; path is only for messages.
// Unknown keys are errors (a misspelt key would otherwise be silently
// ignored), and every error names path, line and column, with the lines
// around it.
func Parse(path string, b []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	for i := range f.Profiles {
		if err := f.Profiles[i].Validate(); err != nil {
			fe := &FileError{Path: path, Msg: err.Error(), Err: err}
			// Point at the profile's entry, so the message names a line
			// like a decoding error does.
			if yp, perr := yaml.PathString(fmt.Sprintf("$.profiles[%d]", i)); perr == nil {
				if n, nerr := yp.ReadNode(bytes.NewReader(b)); nerr == nil && n.GetToken() != nil {
					fe.Line, fe.Column = n.GetToken().Position.Line, n.GetToken().Position.Column
				}
			}
			return nil, fe
		}
	}
	return &f, nil
}

// FileError is a malformed profiles file: where and what.
type FileError struct {
	Path         string
	Line, Column int    // 1-based; 0 when the decoder gave no position
	Msg          string // what is wrong
	Source       string // the lines around the error, with a marker
	Err          error  // the decoder's error
}

func (e *FileError) Error() string {
	e.fill()
	var b strings.Builder
	fmt.Fprintf(&b, "profiles: %s", e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	if e.Source != "" {
		b.WriteString("\n" + e.Source)
	}
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// fill takes position and source from the decoder's error once.
func (e *FileError) fill() {
	if e.Msg != "" {
		return
	}
	e.Msg = e.Err.Error()
	var ye yaml.Error
	if !errors.As(e.Err, &ye) {
		return
	}
	e.Msg = ye.GetMessage()
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	// FormatError's first line repeats "[line:col] message"; keep the source.
	if _, src, ok := strings.Cut(ye.FormatError(false, true), "\n"); ok {
		e.Source = strings.TrimRight(src, "\n")
	}
}

// Save writes f to path atomically (a temporary file renamed over it), so a
// crash never leaves half a file, and with mode 0600 because profiles hold
// passwords.
func Save(path string, f *File) error {
	b, err := yaml.MarshalWithOptions(f, yaml.Indent(2), yaml.IndentSequence(true))
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".profiles-*.yaml")
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("profiles: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
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

// YAML is p as it appears in the profiles file, for `mqttboard profile show`.
func (p Profile) YAML() ([]byte, error) {
	return yaml.MarshalWithOptions(p, yaml.Indent(2), yaml.IndentSequence(true))
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

// PutProfile adds p, replacing a profile of the same name.
func (f *File) PutProfile(p Profile) {
	if i := slices.IndexFunc(f.Profiles, func(o Profile) bool { return o.Name == p.Name }); i >= 0 {
		f.Profiles[i] = p
		return
	}
	f.Profiles = append(f.Profiles, p)
}

// RemoveProfile deletes the profile called name and reports whether it
// was there.
func (f *File) RemoveProfile(name string) bool {
	n := len(f.Profiles)
	f.Profiles = slices.DeleteFunc(f.Profiles, func(p Profile) bool { return p.Name == name })
	return len(f.Profiles) != n
}

// ProfileNames lists the saved profiles, for error messages.
func (f *File) ProfileNames() []string {
	names := make([]string, len(f.Profiles))
	for i, p := range f.Profiles {
		names[i] = p.Name
	}
	return names
}

// BoardNames lists the saved boards, for error messages.
func (f *File) BoardNames() []string {
	names := make([]string, len(f.Boards))
	for i, b := range f.Boards {
		names[i] = b.Name
	}
	return names
}
