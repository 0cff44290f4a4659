// Package schema generates the JSON Schemas (draft 2020-12) of netpolicy's
// files for editors: the user's config.toml, the administrator's
// requirements.toml, and the project configuration .netpolicy.toml.
//
// The network tables are generated from policy.NetworkKeys, the same key
// table the loader and the linter read, so a key the linter knows is a key
// the schema knows, with the same type and the same tables. The generated
// files are committed next to this package (config.schema.json,
// requirements.schema.json, netpolicy.schema.json) and a test fails when
// they differ from what the current key table produces. Editors using taplo
// (Even Better TOML and others) pick one up from a first-line comment:
//
//	#:schema https://raw.githubusercontent.com/netpolicy/netpolicy/main/schema/config.schema.json
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/netpolicy/netpolicy/policy"
)

// BaseURL is where the committed schemas are published; each schema's $id.
const BaseURL = "https://raw.githubusercontent.com/netpolicy/netpolicy/main/schema/"

// Kind names a schema.
type Kind string

// The schemas.
const (
	Config       Kind = "config"
	Requirements Kind = "requirements"
	Project      Kind = "project"
)

// Kinds are every schema, in the order `netpolicy schema` lists them.
var Kinds = []Kind{Config, Requirements, Project}

// File is the name of the committed file of a schema.
func (k Kind) File() string {
	if k == Project {
		return "netpolicy.schema.json"
	}
	return string(k) + ".schema.json"
}

// Generate returns the schema of kind k as indented JSON, or an error for an
// unknown kind.
func Generate(k Kind) ([]byte, error) {
	var s obj
	switch k {
	case Config:
		s = configSchema()
	case Requirements:
		s = requirementsSchema()
	case Project:
		s = projectSchema()
	default:
		return nil, fmt.Errorf("unknown schema %q: want config, requirements or project", k)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// obj is a JSON object whose keys are written in sorted order (encoding/json
// sorts map keys), so the output is stable.
type obj = map[string]any

func header(k Kind, title, desc string) obj {
	return obj{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         BaseURL + k.File(),
		"title":       title,
		"description": desc,
		"type":        "object",
	}
}

func configSchema() obj {
	s := header(Config, "netpolicy: config.toml (network permissions)",
		"The network permission tables of a user's config.toml. Other keys of the file belong to other tools and are not checked.")
	s["properties"] = obj{
		"default_permissions": obj{
			"type":        "string",
			"description": "The permissions profile used when none is selected on the command line: a [permissions.<name>] table of this file, or a built-in profile (" + joinQuoted(policy.BuiltinProfiles) + ").",
		},
		"network": ref("network", "The network table used when no custom profile is selected."),
		"permissions": obj{
			"type":                 "object",
			"description":          "Permissions profiles, selected with --profile or default_permissions.",
			"additionalProperties": ref("profile", ""),
		},
	}
	s["$defs"] = obj{
		"network": networkTable(false),
		"profile": obj{
			"type":        "object",
			"description": "A permissions profile.",
			"properties": obj{
				"extends":     obj{"type": "string", "description": "The profile this one builds on: its rules apply unless this profile names the same pattern or path."},
				"description": obj{"type": "string", "description": "What the profile is for."},
				"network":     ref("network", "The profile's network table."),
			},
		},
		"domains": domainsDef(),
		"sockets": socketsDef(),
	}
	return s
}

func requirementsSchema() obj {
	s := header(Requirements, "netpolicy: requirements.toml (managed network policy)",
		"The managed [experimental_network] table an administrator ships in requirements.toml. Other keys of the file belong to other tools and are not checked.")
	s["properties"] = obj{
		"experimental_network": ref("network", "The managed network policy: it wins over the user's config."),
	}
	s["$defs"] = obj{
		"network": networkTable(true),
		"domains": domainsDef(),
		"sockets": socketsDef(),
	}
	return s
}

// networkTable is a managed or user network table: exactly the keys
// policy.NetworkKeys accepts there.
func networkTable(managed bool) obj {
	props := obj{}
	for i := range policy.NetworkKeys {
		k := &policy.NetworkKeys[i]
		if managed && !k.Managed || !managed && !k.User {
			continue
		}
		p := keySchema(k)
		if d := keyDoc(k.Name); d != "" {
			p["description"] = d
		}
		switch {
		case k.Legacy:
			p["deprecated"] = true
			p["description"] = fmt.Sprint(p["description"], " Legacy list form: netpolicy migrate rewrites it into the map form.")
		case k.Obsolete:
			p["deprecated"] = true
			p["description"] = fmt.Sprint(p["description"], " Obsolete: it has no effect; netpolicy migrate removes it.")
		}
		props[k.Name] = p
	}
	desc := "A user network table ([network] or [permissions.<name>.network])."
	if managed {
		desc = "The managed network table ([experimental_network])."
	}
	return obj{
		"type":                 "object",
		"description":          desc,
		"properties":           props,
		"additionalProperties": false,
	}
}

// keySchema is the JSON Schema of one key's value.
func keySchema(k *policy.KeySpec) obj {
	switch k.Type {
	case policy.TypeBool:
		return obj{"type": "boolean"}
	case policy.TypeString:
		if k.Name == "mode" {
			return obj{"type": "string", "enum": []string{"full", "limited"}}
		}
		return obj{"type": "string"}
	case policy.TypePort:
		return obj{"type": "integer", "minimum": 1, "maximum": 65535}
	case policy.TypeDomainMap:
		return obj{"$ref": "#/$defs/domains"}
	case policy.TypeSocketMap:
		return obj{"$ref": "#/$defs/sockets"}
	case policy.TypeStringList:
		return obj{"type": "array", "items": obj{"type": "string"}}
	}
	return obj{}
}

func domainsDef() obj {
	return obj{
		"type":        "object",
		"description": "Domain rules: a host pattern (exact host, *.example.com for subdomains, **.example.com for the domain and its subdomains, or an IP literal) and allow or deny. Deny wins.",
		"additionalProperties": obj{
			"type": "string",
			"enum": []string{"allow", "deny"},
		},
	}
}

func socketsDef() obj {
	return obj{
		"type":        "object",
		"description": "Unix socket rules: an absolute path and allow, none (refused, even with dangerously_allow_all_unix_sockets) or deny.",
		"additionalProperties": obj{
			"type": "string",
			"enum": []string{"allow", "none", "deny"},
		},
	}
}

func ref(def, desc string) obj {
	o := obj{"$ref": "#/$defs/" + def}
	if desc != "" {
		o["description"] = desc
	}
	return o
}

// ProjectKeys are the keys of the [lint] table of .netpolicy.toml.
var ProjectKeys = []string{"select", "ignore", "exclude", "fail-on", "per-file-ignores"}

func projectSchema() obj {
	codes := obj{
		"type":  "array",
		"items": obj{"type": "string", "pattern": "^([Aa][Ll][Ll]|[Nn][Pp][0-9]{0,3})$"},
	}
	with := func(o obj, desc string) obj {
		c := obj{}
		for k, v := range o {
			c[k] = v
		}
		c["description"] = desc
		return c
	}
	globs := obj{"type": "array", "items": obj{"type": "string", "minLength": 1}}
	lint := obj{
		"select":  with(codes, "Report only the rules matching these IDs or prefixes (NP022, NP02, ALL). Default: every rule."),
		"ignore":  with(codes, "Never report the rules matching these IDs or prefixes."),
		"exclude": with(globs, "Files and directories skipped in directory walks of lint and migrate (.gitignore syntax, relative to this file)."),
		"fail-on": obj{"type": "string", "enum": []string{"error", "warning", "info"}, "description": "Lowest severity that makes lint exit 1. Default: warning."},
		"per-file-ignores": obj{
			"type":                 "object",
			"description":          "Rules ignored in the files matching each glob (.gitignore syntax, relative to this file).",
			"additionalProperties": codes,
		},
	}
	s := header(Project, "netpolicy: .netpolicy.toml (project configuration)",
		"Settings of netpolicy lint and migrate for a project; found in the working directory or a parent.")
	s["properties"] = obj{
		"lint": obj{
			"type":                 "object",
			"description":          "Settings of netpolicy lint (exclude also applies to migrate).",
			"properties":           lint,
			"additionalProperties": false,
		},
	}
	s["additionalProperties"] = false
	return s
}

func joinQuoted(ss []string) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + s + `"`)
	}
	return b.String()
}
