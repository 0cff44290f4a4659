package policy

// FileKind tells requirements from config.
type FileKind uint8

// The kinds of policy file.
const (
	KindAuto         FileKind = iota // tell them apart by name and content (DetectKind)
	KindRequirements                 // a managed requirements.toml
	KindConfig                       // a user config.toml
)

// String is the kind as --kind spells it.
func (k FileKind) String() string {
	switch k {
	case KindRequirements:
		return "requirements"
	case KindConfig:
		return "config"
	}
	return "auto"
}

// ParseFileKind reads a --kind value.
func ParseFileKind(s string) (FileKind, bool) {
	switch s {
	case "auto", "":
		return KindAuto, true
	case "requirements":
		return KindRequirements, true
	case "config":
		return KindConfig, true
	}
	return KindAuto, false
}
