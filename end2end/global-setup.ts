import { baseURL } from "./playwright.config";

/** Waits until the server answers: cargo-leptos starts it and runs the tests right away. */
export default async function globalSetup(): Promise<void> {
  const deadline = Date.now() + 180_000;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${baseURL}/healthz`);
      if (response.ok) return;
      lastError = new Error(`status ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the server at ${baseURL} did not come up: ${lastError}`);
}
