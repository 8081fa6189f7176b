// What getsentry/action-release (v3) does with sentry-cli, re-written to run here without its
// npm dependencies (@actions/core, @sentry/cli): the same commands, in the same order, each
// judged a success the way its @sentry/cli 2.x wrapper judges it.
//
// - `releases new`, `set-commits`, `releases deploys ... new` and `finalize` run through
//   execFile: a non-zero exit rejects.
// - `sourcemaps inject` and the upload run "live" (output inherited): the wrapper resolves when
//   the process exits, whatever its exit code.
// - Any rejection ends the run as core.setFailed does: an `::error::` line and exit code 1.
//
// Inputs come as the runner passes them, INPUT_<NAME> variables; the binary is SENTRY_BINARY_PATH
// (which @sentry/cli honours too). Run from the checkout, as the action runs in the workspace.
'use strict';

const childProcess = require('child_process');

function input(name, fallback = '') {
  const value = process.env[`INPUT_${name.toUpperCase()}`];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

function flag(name, fallback) {
  const value = input(name, String(fallback)).toLowerCase();
  if (value !== 'true' && value !== 'false') {
    throw new Error(`${name} is not a boolean`);
  }
  return value === 'true';
}

function execute(args, live) {
  const binary = process.env.SENTRY_BINARY_PATH;
  return new Promise((resolve, reject) => {
    if (live) {
      const child = childProcess.spawn(binary, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('exit', () => resolve());
      return;
    }
    childProcess.execFile(binary, args, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

function projectFlags(projects) {
  return projects.flatMap((project) => ['-p', project]);
}

async function main() {
  for (const name of ['SENTRY_ORG', 'SENTRY_AUTH_TOKEN']) {
    if (!process.env[name]) {
      throw new Error(`Environment variable ${name} is missing`);
    }
  }
  const environment = input('environment');
  const sourcemaps = input('sourcemaps') ? input('sourcemaps').split(' ') : [];
  const projects = input('projects', process.env.SENTRY_PROJECT || '').split(' ').filter(Boolean);
  const release = input('release', input('version'));
  const setCommits = input('set_commits', 'auto');
  const startedAt = input('started_at');

  await execute(['releases', 'new', release, ...projectFlags(projects)], false);
  if (setCommits !== 'skip') {
    const extra = flag('ignore_missing', false) ? ['--ignore-missing'] : [];
    await execute(['releases', 'set-commits', release, '--auto', ...extra], false);
  }
  if (sourcemaps.length) {
    if (flag('inject', true)) {
      await execute(['sourcemaps', 'inject', ...sourcemaps], true);
    }
    // One upload per project, as the action does; the wrapper adds its default ignore.
    await Promise.all(
      projects.map((project) =>
        Promise.all(
          sourcemaps.map((path) =>
            execute(
              ['sourcemaps', 'upload', '-p', project, '--release', release, path, '--ignore', 'node_modules'],
              true,
            ),
          ),
        ),
      ),
    );
  }
  if (environment) {
    const started = startedAt ? ['--started', startedAt] : [];
    await execute(['releases', 'deploys', release, 'new', '--env', environment, ...started], false);
  }
  if (flag('finalize', true)) {
    await execute(['releases', 'finalize', release], false);
  }
  process.stdout.write(`::set-output name=release::${release}\n`);
}

main().catch((error) => {
  process.stdout.write(`::error::${error.message}\n`);
  process.exitCode = 1;
});
