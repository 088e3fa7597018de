// Composes the HER-SYS subgraph with a second subgraph using the official
// Federation composition library, and fails on any composition error or on
// a hint about keys. Usage: node compose.mjs ../../schema/hersys.graphql ../federation/vaccination.graphql
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';

const files = process.argv.slice(2);
if (files.length < 2) {
  console.error('usage: node compose.mjs SUBGRAPH.graphql OTHER.graphql ...');
  process.exit(2);
}
const services = files.map((file) => ({
  name: basename(file, '.graphql').replace(/[^a-z0-9]/gi, '_'),
  url: `http://${basename(file, '.graphql')}.example/graphql`,
  typeDefs: parse(readFileSync(file, 'utf8')),
}));
const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  for (const error of result.errors) console.error(`composition error: ${error.message}`);
  process.exit(1);
}
const keyHints = (result.hints ?? []).filter((hint) => /key/i.test(hint.definition.code) || /@key/.test(hint.message));
for (const hint of result.hints ?? []) console.log(`hint [${hint.definition.code}]: ${hint.message}`);
if (keyHints.length > 0) {
  console.error(`${keyHints.length} hint(s) about keys: the entities do not compose cleanly`);
  process.exit(1);
}
const supergraph = result.supergraphSdl;
for (const needed of ['type Patient', 'vaccinations: [Vaccination!]!', 'positiveResults']) {
  if (!supergraph.includes(needed)) {
    console.error(`the supergraph lacks ${needed}`);
    process.exit(1);
  }
}
console.log(`composed ${services.map((s) => s.name).join(' + ')}: supergraph of ${supergraph.length} characters`);
