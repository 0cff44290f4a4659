unset registry.npmjs.org
