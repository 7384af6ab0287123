// Run by mongo-init.sh on every `docker compose up`: makes the one member a replica set (once),
// waits until it is primary, then gives each service its own user with readWrite on its own
// database only (deploy/README.md#mongodb-one-database-and-one-user-per-service), created or, if
// it exists, given the password from .env again. Passwords come from the environment, never from
// the command line, where `ps` would show them.
const admin = db.getSiblingDB("admin");
admin.auth("cardstream-admin", process.env.MONGO_ROOT_PASSWORD);

try {
  rs.status();
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error;
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongo:27017" }] });
}

for (let i = 0; i < 120 && !db.hello().isWritablePrimary; i++) sleep(500);
if (!db.hello().isWritablePrimary) {
  print("mongo-init: rs0 has no primary after a minute");
  quit(1);
}

const users = [
  { user: "cardstream-projector", pwd: process.env.MONGO_PROJECTOR_PASSWORD, roles: [{ role: "readWrite", db: "cardstream" }] },
  { user: "cardstream-auth", pwd: process.env.MONGO_AUTH_PASSWORD, roles: [{ role: "readWrite", db: "cardstream_auth" }] },
];
for (const { user, pwd, roles } of users) {
  if (!pwd) throw new Error(`no password for ${user}`);
  if (admin.getUser(user)) {
    admin.updateUser(user, { pwd, roles });
  } else {
    admin.createUser({ user, pwd, roles });
  }
  print(`mongo-init: ${user} has readWrite on ${roles[0].db}`);
}
