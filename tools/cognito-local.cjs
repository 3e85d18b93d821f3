// Starts cognito-local (the local Cognito of the stack and the tests) with one change
// that makes it behave as AWS does: confirming a sign-up with the code Cognito sent marks
// the attribute the code went to as verified (`email_verified` or
// `phone_number_verified`). cognito-local 5.3.0 leaves both unset, so every self sign-up
// would look unverified, and the sign-up trigger rightly claims nothing by an unverified
// key. Nothing else is changed.
//
// Run from the folder holding .cognito/config.json, with NODE_PATH at the node_modules
// that has cognito-local. With EXIT_WITH_STDIN=1 it ends when its standard input closes
// (the test process that started it has ended).
"use strict";
const { Targets } = require("cognito-local/lib/targets/targets");
const { selectAppropriateDeliveryMethod } = require("cognito-local/lib/services/messageDelivery/deliveryMethod");

const confirmSignUp = Targets.ConfirmSignUp;
Targets.ConfirmSignUp = (services) => {
  const confirm = confirmSignUp(services);
  return async (ctx, req) => {
    const pool = await services.cognito.getUserPoolForClientId(ctx, req.ClientId);
    const user = await pool.getUserByUsername(ctx, req.Username);
    if (user && user.ConfirmationCode && user.ConfirmationCode === req.ConfirmationCode) {
      const sentTo = selectAppropriateDeliveryMethod(pool.options.AutoVerifiedAttributes ?? [], user);
      if (sentTo) {
        const flag = `${sentTo.AttributeName}_verified`;
        const attributes = (user.Attributes ?? []).filter((a) => a.Name !== flag);
        await pool.saveUser(ctx, { ...user, Attributes: [...attributes, { Name: flag, Value: "true" }] });
      }
    }
    return confirm(ctx, req);
  };
};

if (process.env.EXIT_WITH_STDIN === "1") {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
}
require("cognito-local/lib/bin/start.js");
