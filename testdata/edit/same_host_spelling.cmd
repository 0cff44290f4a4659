allow registry.npmjs.org
