package main

import (
	"reflect"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/schema"
)

// schemaCommand is the `netpolicy schema` command.
func schemaCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "schema",
		Usage:     "print the JSON Schema of config.toml, requirements.toml or .netpolicy.toml",
		ArgsUsage: "config|requirements|project",
		Description: "Schema prints a JSON Schema (draft 2020-12) for editors: config (the\n" +
			"network tables of a user's config.toml), requirements (the managed\n" +
			"[experimental_network] of requirements.toml) or project (.netpolicy.toml).\n" +
			"They are generated from the key table the linter uses; the repository\n" +
			"carries copies in schema/. With taplo (Even Better TOML and other editors)\n" +
			"put a comment on the first line of the file:\n\n" +
			"   #:schema " + schema.BaseURL + "config.schema.json",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return exitCode(exitUsage, "netpolicy schema: name one schema: config, requirements or project")
			}
			b, err := schema.Generate(schema.Kind(c.Args().First()))
			if err != nil {
				return exitCode(exitUsage, "netpolicy schema: %v", err)
			}
			_, err = e.stdout.Write(b)
			return err
		},
	}
}

// projectFileKeys are the [lint] keys projectFile decodes, for the test that
// keeps them and the project schema in step.
func projectFileKeys() []string {
	var keys []string
	t := reflect.TypeOf(projectFile{}.Lint)
	for i := range t.NumField() {
		keys = append(keys, strings.Split(t.Field(i).Tag.Get("toml"), ",")[0])
	}
	return keys
}
