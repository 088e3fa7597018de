// PostGraphile 5 on the gateway's own database, for the load benchmark's
// side-by-side comparison (`hersys-tools bench load --postgraphile`). Its
// default preset, with no authorisation, no audit and no row scope: the
// same rows, read as directly as a general-purpose server reads them.
// Node-ids are off, so that a row's `id` is its primary key as in the
// gateway. DATABASE_URL names the database; PORT the port (127.0.0.1).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

const connectionString = process.env.DATABASE_URL;
const port = Number(process.env.PORT ?? "5678");
if (!connectionString) {
  console.error("DATABASE_URL is required");
  process.exit(2);
}

const preset = {
  extends: [PostGraphileAmberPreset],
  disablePlugins: ["NodePlugin"],
  pgServices: [makePgService({ connectionString, schemas: ["public"], poolConfig: { max: 16 } })],
  grafserv: { port, graphqlPath: "/graphql", graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.once("listening", () => console.log(`postgraphile listening on http://127.0.0.1:${port}/graphql`));
serv.addTo(server).then(
  () => server.listen(port, "127.0.0.1"),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
