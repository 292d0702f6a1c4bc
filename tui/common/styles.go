package common

import "github.com/charmbracelet/lipgloss"

// Styles are the board's styles, one value handed to every pane.
type Styles struct {
	Focused  lipgloss.Style // border of the focused pane
	Blurred  lipgloss.Style // border of the other panes
	Title    lipgloss.Style
	Dim      lipgloss.Style
	Selected lipgloss.Style
	Error    lipgloss.Style
	OK       lipgloss.Style
	Warn     lipgloss.Style
	Label    lipgloss.Style
	HelpBar  lipgloss.Style
	// JSON colours of the message details' pretty view.
	JSONKey, JSONString, JSONNumber, JSONLiteral lipgloss.Style
	// Palette is the colour of each connection, by creation order, used
	// wherever the connection's messages appear.
	Palette []lipgloss.Color
}

// DefaultStyles uses the 16 ANSI colours only, so the board looks right in
// any terminal theme.
func DefaultStyles() Styles {
	return Styles{
		Focused:     lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(lipgloss.Color("12")),
		Blurred:     lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(lipgloss.Color("8")),
		Title:       lipgloss.NewStyle().Bold(true),
		Dim:         lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		Selected:    lipgloss.NewStyle().Reverse(true),
		Error:       lipgloss.NewStyle().Foreground(lipgloss.Color("9")),
		OK:          lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		Warn:        lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
		Label:       lipgloss.NewStyle().Foreground(lipgloss.Color("14")),
		HelpBar:     lipgloss.NewStyle().Foreground(lipgloss.Color("7")),
		JSONKey:     lipgloss.NewStyle().Foreground(lipgloss.Color("14")),
		JSONString:  lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		JSONNumber:  lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
		JSONLiteral: lipgloss.NewStyle().Foreground(lipgloss.Color("13")),
		Palette: []lipgloss.Color{
			lipgloss.Color("10"), lipgloss.Color("13"), lipgloss.Color("11"),
			lipgloss.Color("14"), lipgloss.Color("9"), lipgloss.Color("12"),
		},
	}
}

// ConnColor is the colour of the n-th connection.
func (s Styles) ConnColor(n int) lipgloss.Color {
	return s.Palette[n%len(s.Palette)]
}
