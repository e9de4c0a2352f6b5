// A Node.js client of stratus.identity.v1 built from protos/ at run time, as any user of the
// contract would build one. Prints one JSON object describing what each call returned.
//
//   node client.js <address> <admin-password> <new-project-name>
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "../../../../protos");

function loadIdentity() {
  const definition = protoLoader.loadSync("stratus/identity/v1/identity_service.proto", {
    includeDirs: [PROTOS],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).stratus.identity.v1;
}

function call(client, method, request, token) {
  const metadata = new grpc.Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  return new Promise((resolve) => {
    client[method](request, metadata, { deadline: Date.now() + 20000 }, (error, response) => {
      resolve(error ? { error: { code: error.code, details: error.details } } : { response });
    });
  });
}

async function main() {
  const [address, adminPassword, projectName] = process.argv.slice(2);
  const identity = loadIdentity();
  const client = new identity.IdentityService(address, grpc.credentials.createInsecure());
  const out = {};

  const issued = await call(client, "IssueToken", {
    user_name: "admin", password: adminPassword, project_name: "admin",
  });
  out.issue = issued;
  const token = issued.response && issued.response.token;

  out.create = await call(client, "CreateProject", {
    project: { name: projectName, description: "made by the Node.js client", enabled: true },
  }, token);
  const projectId = out.create.response ? out.create.response.id : "";
  out.get = await call(client, "GetProject", { id: projectId }, token);
  out.get_without_token = await call(client, "GetProject", { id: projectId }, null);
  out.get_bad_id = await call(client, "GetProject", { id: "not-a-uuid" }, token);
  out.create_duplicate = await call(client, "CreateProject", { project: { name: projectName } }, token);
  out.status_codes = {
    OK: grpc.status.OK,
    INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
    ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
    UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  };
  client.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
