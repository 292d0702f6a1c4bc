package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
)

// ProfileOptions are the flags of `mqttboard profile list|show|add|rm`.
type ProfileOptions struct {
	IO     *IOStreams
	Action string // list, show, add or rm
	Name   string
	// Path is the profiles file; "" is profiles.DefaultPath.
	Path string

	// show
	ShowPassword bool
	// add: the connection flags every command has, saved instead of used.
	Conn    ConnFlags
	Publish PublishPropFlags
	Force   bool

	changed func(string) bool
}

// NewCmdProfile builds `mqttboard profile` and its list, show, add and rm
// subcommands. runF replaces profileRun in tests.
func NewCmdProfile(ios *IOStreams, runF func(context.Context, *ProfileOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "List, show, add and remove saved connection profiles",
		Long: `Profiles are named connections saved in profiles.yaml in the user's config
directory ($XDG_CONFIG_HOME/mqttboard on Linux). Every connecting command takes
--profile NAME; flags given on the command line override the profile.

The file is written with mode 0600. To keep a secret out of it, save the name
of an environment variable instead: profile add NAME --password-env VAR.`,
		Args: cobra.NoArgs,
	}
	run := func(o *ProfileOptions) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.Name = args[0]
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return profileRun(c.Context(), o)
		}
	}
	names := func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeProfileNames(c, args, prefix)
	}

	list := &ProfileOptions{IO: ios, Action: "list"}
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the saved profiles: name, URL, MQTT version, user name",
		Args:    cobra.NoArgs,
		RunE:    run(list),
	})

	show := &ProfileOptions{IO: ios, Action: "show"}
	showCmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Print a profile as it is saved (the password masked)",
		Example:           "  mqttboard profile show flespi\n  mqttboard profile show flespi --show-password",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: names,
		RunE:              run(show),
	}
	showCmd.Flags().BoolVar(&show.ShowPassword, "show-password", false, "print the password instead of a mask")
	cmd.AddCommand(showCmd)

	add := &ProfileOptions{IO: ios, Action: "add"}
	addCmd := &cobra.Command{
		Use:   "add NAME [connection flags]",
		Short: "Save the connection flags given as a profile",
		Long: `Save the connection flags given (the same flags pub and sub take) as the
profile NAME. Only flags given are saved; --profile OTHER starts from a copy of
OTHER. --content-type, --message-expiry, --response-topic and --user-property
are saved as the PUBLISH properties pub and rr send by default.`,
		Example: `  mqttboard profile add local -L mqtt://localhost:1883
  mqttboard profile add flespi -L mqtts://mqtt.flespi.io -u "$TOKEN_NAME" --password-env FLESPI_TOKEN
  mqttboard profile add ci -h broker -p 8883 --cafile ca.pem -V 3.1.1 -i ci-runner --user-property origin=ci
  mqttboard profile add flespi --profile flespi -k 30 --force`,
		Args: cobra.ExactArgs(1),
		RunE: run(add),
	}
	addConnFlags(addCmd, &add.Conn)
	addCmd.Flags().StringVar(&add.Publish.ContentType, "content-type", "", "default content type of published messages")
	addCmd.Flags().Uint32Var(&add.Publish.MessageExpiry, "message-expiry", 0, "default message expiry interval of published messages, seconds")
	addCmd.Flags().StringVar(&add.Publish.ResponseTopic, "response-topic", "", "default response topic of published messages")
	addCmd.Flags().StringArrayVar(&add.Publish.User, "user-property", nil, "default user property of published messages, k=v (repeatable)")
	addCmd.Flags().BoolVar(&add.Force, "force", false, "replace a profile of the same name")
	add.changed = func(n string) bool { return addCmd.Flags().Changed(n) }
	cmd.AddCommand(addCmd)

	rm := &ProfileOptions{IO: ios, Action: "rm"}
	cmd.AddCommand(&cobra.Command{
		Use:               "rm NAME",
		Aliases:           []string{"remove", "delete"},
		Short:             "Remove a saved profile",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: names,
		RunE:              run(rm),
	})
	return cmd
}

func profileRun(_ context.Context, o *ProfileOptions) error {
	path := o.Path
	if path == "" {
		p, err := profiles.DefaultPath()
		if err != nil {
			return err
		}
		path = p
	}
	f, err := profiles.Load(path)
	if err != nil {
		return err
	}
	notFound := func() error {
		saved := strings.Join(f.ProfileNames(), ", ")
		if saved == "" {
			saved = "none"
		}
		return usageError(fmt.Errorf("no profile %q in %s (saved: %s)", o.Name, path, saved))
	}
	switch o.Action {
	case "list":
		if len(f.Profiles) == 0 {
			fmt.Fprintf(o.IO.ErrOut, "no profiles in %s; save one with: mqttboard profile add NAME -L URL\n", path)
			return nil
		}
		tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tURL\tVERSION\tUSERNAME")
		for _, p := range f.Profiles {
			url := p.URL
			if p.Local {
				url = "(bundled broker)"
			}
			v := p.Version
			if v == "" {
				v = "5"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, url, v, p.Username)
		}
		return tw.Flush()
	case "show":
		p, ok := f.Profile(o.Name)
		if !ok {
			return notFound()
		}
		q := *p
		if q.Password != "" && !o.ShowPassword {
			q.Password = "********"
		}
		b, err := q.YAML()
		if err != nil {
			return err
		}
		_, err = o.IO.Out.Write(b)
		return err
	case "rm":
		if !f.RemoveProfile(o.Name) {
			return notFound()
		}
		if err := profiles.Save(path, f); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "removed profile %s from %s\n", o.Name, path)
		return nil
	case "add":
		if _, exists := f.Profile(o.Name); exists && !o.Force {
			return usageError(fmt.Errorf("profile %q already exists in %s: add --force to replace it", o.Name, path))
		}
		var p profiles.Profile
		if o.Conn.Profile != "" {
			base, ok := f.Profile(o.Conn.Profile)
			if !ok {
				name := o.Name
				o.Name = o.Conn.Profile
				defer func() { o.Name = name }()
				return notFound()
			}
			p = *base
		}
		p.Name = o.Name
		if err := o.fillProfile(&p); err != nil {
			return err
		}
		if err := p.Validate(); err != nil {
			return usageError(err)
		}
		f.PutProfile(p)
		if err := profiles.Save(path, f); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "saved profile %s to %s\n", p.Name, path)
		if o.changed("password") {
			fmt.Fprintf(o.IO.ErrOut, "note: the password is stored in that file (mode 0600); --password-env VAR stores the variable's name instead\n")
		}
		return nil
	}
	return fmt.Errorf("profile: unknown action %q", o.Action)
}

// unsaved are connection flags a profile has no field for: refusing them
// beats silently dropping them.
var unsaved = []string{"password-file", "auth-method", "auth-data", "no-problem-info",
	"will-message-expiry", "will-content-type", "will-response-topic", "will-correlation-data",
	"will-payload-format", "connect-timeout", "debug"}

// fillProfile copies the flags given into p.
func (o *ProfileOptions) fillProfile(p *profiles.Profile) error {
	c := &o.Conn
	for _, n := range unsaved {
		if o.changed(n) {
			return usageError(fmt.Errorf("--%s cannot be saved in a profile; give it when you use the profile", n))
		}
	}
	if o.changed("url") || o.changed("host") || o.changed("port") || o.changed("protocol") || o.changed("ws-path") ||
		(p.URL == "" && (o.changed("cafile") || o.changed("ca") || o.changed("cert") || o.changed("insecure"))) {
		u, _, err := c.brokerURL()
		if err != nil {
			return err
		}
		if u.User != nil {
			p.Username = u.User.Username()
			if pw, ok := u.User.Password(); ok {
				p.Password = pw
			}
			u.User = nil
		}
		p.URL = u.String()
		p.Local = false
	}
	if p.URL == "" && !p.Local {
		return usageError(errors.New("give the broker: -L URL, or -h HOST [-p PORT] [--protocol mqtts]"))
	}
	if o.changed("mqtt-version") {
		v, err := parseVersion(c.Version)
		if err != nil {
			return usageError(err)
		}
		p.Version = v.String()
		if v == packet.V5 {
			p.Version = "5" // the spelling Validate and the board use
		}
	}
	str := func(flag string, dst *string, v string) {
		if o.changed(flag) {
			*dst = v
		}
	}
	str("id", &p.ClientID, c.ClientID)
	str("username", &p.Username, c.Username)
	if o.changed("password") {
		p.Password, p.PasswordEnv = c.Password, ""
	}
	if o.changed("password-env") {
		p.Password, p.PasswordEnv = "", c.PasswordEnv
	}
	str("cafile", &p.CAFile, c.CAFile)
	str("ca", &p.CAFile, c.CAFile)
	str("cert", &p.CertFile, c.Cert)
	str("key", &p.KeyFile, c.Key)
	str("sni", &p.SNI, c.SNI)
	if o.changed("insecure") {
		p.Insecure = c.Insecure
	}
	if o.changed("alpn") || o.changed("tls-alpn") {
		p.ALPN = c.ALPN
	}
	if o.changed("keepalive") {
		p.KeepAlive = c.KeepAlive
	}
	if o.changed("no-clean") {
		p.Persistent = c.Persistent
	}
	if o.changed("session-expiry") {
		p.SessionExpiry = c.SessionExpiry
	}
	if o.changed("receive-maximum") {
		p.ReceiveMaximum = c.ReceiveMaximum
	}
	if o.changed("maximum-packet-size") {
		p.MaximumPacketSize = c.MaximumPacketSize
	}
	if o.changed("topic-alias-maximum") {
		p.TopicAliasMaximum = c.TopicAliasMaximum
	}
	if o.changed("request-response-info") {
		p.RequestResponseInfo = c.RequestResponseInfo
	}
	if o.changed("connect-user-property") {
		u, err := savedUserProperties("connect-user-property", c.ConnectUser)
		if err != nil {
			return err
		}
		p.User = u
	}
	if o.changed("will-topic") {
		if c.WillQoS < 0 || c.WillQoS > 2 {
			return usageError(fmt.Errorf("--will-qos %d: use 0, 1 or 2", c.WillQoS))
		}
		u, err := savedUserProperties("will-user-property", c.WillUser)
		if err != nil {
			return err
		}
		p.Will = &profiles.Will{Topic: c.WillTopic, Payload: c.WillPayload, QoS: byte(c.WillQoS), Retain: c.WillRetain, Delay: c.WillDelay, User: u}
	} else if o.changed("will-payload") || o.changed("will-qos") || o.changed("will-retain") || o.changed("will-delay") || o.changed("will-user-property") {
		return usageError(errors.New("will flags need --will-topic"))
	}
	if o.changed("content-type") || o.changed("message-expiry") || o.changed("response-topic") || o.changed("user-property") {
		d := profiles.PublishDefaults{}
		if p.Publish != nil {
			d = *p.Publish
		}
		str("content-type", &d.ContentType, o.Publish.ContentType)
		str("response-topic", &d.ResponseTopic, o.Publish.ResponseTopic)
		if o.changed("message-expiry") {
			d.MessageExpiry = o.Publish.MessageExpiry
		}
		if o.changed("user-property") {
			u, err := savedUserProperties("user-property", o.Publish.User)
			if err != nil {
				return err
			}
			d.User = u
		}
		p.Publish = &d
	}
	return nil
}

func savedUserProperties(flag string, in []string) ([]profiles.UserProperty, error) {
	ps, err := parseUserProperties(flag, in)
	if err != nil {
		return nil, err
	}
	out := make([]profiles.UserProperty, len(ps))
	for i, u := range ps {
		out[i] = profiles.UserProperty{Key: u.Key, Value: u.Value}
	}
	return out, nil
}
