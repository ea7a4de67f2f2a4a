import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

type Received = { to: string[]; subject: string; text: string; html: string };

const maildir = process.env.GATEHOUSE_E2E_MAILDIR ?? "target/e2e-mail";

/** Waits for an email to `to` whose subject contains `subject`, as the SMTP sink received it. */
export async function waitForEmail(to: string, subject: string, timeoutMs = 15_000): Promise<Received> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let files: string[] = [];
    try {
      files = readdirSync(maildir).sort().reverse();
    } catch {
      // the sink creates the directory on start
    }
    for (const file of files) {
      const message = JSON.parse(readFileSync(join(maildir, file), "utf8")) as Received;
      if (message.to.includes(to) && message.subject.includes(subject)) return message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no email to ${to} about "${subject}" within ${timeoutMs} ms`);
}

/** The first link in an email's text part. */
export function linkIn(message: Received): string {
  const match = message.text.match(/https?:\/\/\S+/);
  if (!match) throw new Error(`no link in: ${message.text}`);
  return match[0];
}
