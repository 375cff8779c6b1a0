import type { FullResult, Reporter, TestCase, TestResult } from "@playwright/test/reporter";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

/**
 * Writes the tests that failed, or passed only on their retry, with the first lines of their
 * errors, to `target/e2e-summary.txt`: `scripts/test.sh` prints it last when the end-to-end
 * step fails, so that the end of the log (all a CI report may show) names the test, and not
 * only cargo-leptos's backtrace.
 */
export default class SummaryReporter implements Reporter {
  private readonly lines: string[] = [];
  private readonly out = join(__dirname, "..", "target", "e2e-summary.txt");

  onTestEnd(test: TestCase, result: TestResult): void {
    if (result.status === "passed" || result.status === "skipped") {
      if (result.retry > 0) this.lines.push(`flaky (passed on retry ${result.retry}): ${name(test)}`);
      return;
    }
    this.lines.push(`${result.status} (attempt ${result.retry + 1}): ${name(test)}`);
    for (const error of result.errors) {
      const text = (error.message ?? error.value ?? "").replace(/\u001b\[[0-9;]*m/g, "");
      for (const line of text.split("\n").slice(0, 8)) this.lines.push(`    ${line}`);
    }
  }

  onEnd(result: FullResult): void {
    this.lines.push(`end-to-end: ${result.status}`);
    mkdirSync(dirname(this.out), { recursive: true });
    writeFileSync(this.out, this.lines.join("\n") + "\n");
  }
}

function name(test: TestCase): string {
  const file = relative(join(__dirname, "tests"), test.location.file);
  return `${file}:${test.location.line} › ${test.title}`;
}
