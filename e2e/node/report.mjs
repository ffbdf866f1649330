// What the e2e tests' TypeScript client scripts share: each connects the
// official client, records what it sees in one report and prints it as one
// JSON line on stdout for the Go test to assert.

// describe turns what the calling code got into plain JSON.
export function describe(err) {
  if (err === undefined) {
    return null;
  }
  return {
    class: err?.constructor?.name ?? typeof err,
    name: err?.name ?? null,
    code: err?.code ?? null,
    data: err?.data ?? null,
    message: String(err?.message ?? err),
  };
}

// connectAndReport connects client over transport, lets fill add to
// report, closes the client and prints report; a failure to connect or one
// that fill throws is reported as "fatal", a failure to close as
// "closeError".
export async function connectAndReport(client, transport, report, fill) {
  try {
    await client.connect(transport);
    await fill(report);
  } catch (err) {
    report.fatal = describe(err);
  }
  try {
    await client.close();
  } catch (err) {
    report.closeError = describe(err);
  }
  process.stdout.write(JSON.stringify(report) + '\n');
}
