import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Pool } from 'pg';
import type { Page } from 'playwright-core';
import { AppModule } from '../../src/app.module';
import { IntegrationConsumer, OnIntegrationEvent } from '../../src/integration';
import { artifact, launchChromium, type Browser } from '../support/browser';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const TOKEN = 'browser-suite-write-token';
const READ_TOKEN = 'browser-suite-read-token';

/** Flips the test consumers from failing to working (the "fix" before a replay). */
const outage = { on: true };

@Injectable()
@IntegrationConsumer('browser-mailer', { retry: { maxAttempts: 1 } })
class BrowserMailer {
  @OnIntegrationEvent('vault.opened')
  async send(): Promise<void> {
    if (outage.on) throw new Error('smtp relay unreachable');
  }
}

@Injectable()
@IntegrationConsumer('browser-crm', { retry: { maxAttempts: 1 } })
class BrowserCrm {
  @OnIntegrationEvent('vault.opened')
  async sync(): Promise<void> {
    if (outage.on) throw new Error('crm answered 503');
  }
}

@Module({ providers: [BrowserMailer, BrowserCrm] })
class FailingConsumersModule {}

/**
 * Issue 15, acceptance 1 and 2, in Debian's headless chromium: the vault app with its admin
 * dashboard at /admin on a real database; dead letters made by consumers that fail.
 */
describe('admin dashboard in a real browser', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: INestApplication;
  let browser: Browser;
  let base: string;

  const statusOf = async (eventId: string, consumer: string): Promise<string | undefined> =>
    (
      await pool.query<{ status: string }>(
        'select status from integration_delivery where event_id = $1 and consumer_name = $2',
        [eventId, consumer],
      )
    ).rows[0]?.status;

  /** The texts of one column of the listing's rows. */
  const column = (page: Page, index: number): Promise<string[]> =>
    page.locator(`#view tbody tr td:nth-child(${index})`).allTextContents();

  beforeAll(async () => {
    // First, so a missing chromium fails the suite at once with its install hint.
    browser = await launchChromium();
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppModule.forRoot({
          url: db.url,
          // The overview's charts must show only the per-minute rows this test writes: the
          // recorder's own rows would join them once their minute is over (a run that crosses
          // a minute boundary drew 11 lines instead of 6).
          processor: { idlePollIntervalMs: 50, stats: { enabled: false } },
          admin: { token: TOKEN, readToken: READ_TOKEN },
        }),
        FailingConsumersModule,
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');

    for (const owner of ['ana', 'ben', 'cleo']) {
      const res = await fetch(`${base}/vaults`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ownerId: owner, name: 'Savings', currency: 'EUR' }),
      });
      expect(res.status).toBe(201);
    }
    await waitFor(
      async () =>
        (
          await pool.query<{ n: number }>(
            "select count(*)::int as n from integration_delivery where status = 'dead_letter'",
          )
        ).rows[0]!.n === 6,
      20_000,
      'six dead letters (three events, two failing consumers)',
    );
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await pool?.end();
    await db?.drop();
  });

  it('lists the dead letters, filters by consumer, opens one, replays it with a reason: processed and audited', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });

    await page.goto(`${base}/admin#token=${TOKEN}`);
    await page.locator('#view tbody tr').first().waitFor();
    // The token left the address bar; the page is at /admin/ (relative links stay on it).
    expect(new URL(page.url()).pathname).toBe('/admin/');
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.locator('#match-count').textContent()).toContain('6 matching');
    expect(new Set(await column(page, 2))).toEqual(new Set(['browser-mailer', 'browser-crm']));
    expect(await column(page, 1)).toEqual(Array(6).fill('vault.opened'));
    await page.screenshot({ path: artifact('admin-1-dead-letters.png'), fullPage: true });

    // Filter by consumer, from the keyboard: type, Enter submits the filter form.
    await page.getByLabel('Consumer').fill('browser-mailer');
    await page.getByLabel('Consumer').press('Enter');
    await page.locator('#match-count', { hasText: /^3 matching/ }).waitFor();
    expect(await column(page, 2)).toEqual(Array(3).fill('browser-mailer'));
    expect(await column(page, 4)).toEqual(Array(3).fill('Error: smtp relay unreachable'));
    expect(page.url()).toContain('consumer=browser-mailer');
    await page.screenshot({ path: artifact('admin-2-filtered.png'), fullPage: true });

    // Open the first one.
    const firstLink = page.locator('#view tbody tr a').first();
    const href = (await firstLink.getAttribute('href'))!;
    const eventId = decodeURIComponent(href.replace('#/events/', ''));
    await firstLink.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Event vault.opened' }).waitFor();
    expect(await page.locator('dl.fields').textContent()).toContain(eventId);
    const rows = page.locator('#view tbody tr[data-consumer]');
    expect(await rows.count()).toBe(4); // ledger, notifications, mailer, crm
    expect(await page.locator('tr[data-consumer="browser-mailer"] .status').textContent()).toBe(
      'dead letter',
    );
    await page.screenshot({ path: artifact('admin-3-event.png'), fullPage: true });

    // Replay the mailer's delivery, the outage over, with a reason, through the dialog.
    outage.on = false;
    await page.getByRole('button', { name: 'Replay browser-mailer' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay for browser-mailer' });
    await dialog.waitFor();
    // The dialog has the focus, on its reason field.
    expect(await page.evaluate('document.activeElement.id')).toBe('confirm-reason');
    await page.keyboard.type('smtp relay fixed');
    await page.screenshot({ path: artifact('admin-4-confirm.png'), fullPage: true });
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await page.locator('#status', { hasText: /^replay: 1 delivery/ }).waitFor();
    await waitFor(
      async () => (await statusOf(eventId, 'browser-mailer')) === 'processed',
      15_000,
      'the replayed delivery to be processed',
    );
    expect(await statusOf(eventId, 'browser-crm')).toBe('dead_letter');
    const audit = await pool.query(
      'select action, actor, reason, affected, dry_run, target from integration_audit',
    );
    expect(audit.rows).toEqual([
      expect.objectContaining({
        action: 'replay',
        actor: 'admin-token',
        reason: 'smtp relay fixed',
        affected: 1,
        dry_run: false,
      }),
    ]);
    expect(JSON.stringify(audit.rows[0].target)).toContain(eventId);

    await page.reload();
    await page
      .locator('tr[data-consumer="browser-mailer"] .status', { hasText: 'processed' })
      .waitFor();
    await page.screenshot({ path: artifact('admin-5-replayed.png'), fullPage: true });

    // The audit trail and the overview (backlog per consumer, charts drawn as inline SVG). The
    // per-minute stats are written as the processor's recorder would (two instances' rows).
    await pool.query(
      `insert into integration_consumer_stats
         (bucket, consumer_name, worker_id, processed, retried, dead_lettered, latency_ms_sum, latency_ms_max)
       select date_trunc('minute', now()) - make_interval(mins => m), c, w, 10 + m, 0, 1, 40 * (10 + m), 90
         from generate_series(1, 5) m, unnest(array['browser-mailer', 'vault-ledger']) c,
              unnest(array['w1', 'w2']) w`,
    );
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.locator('#view tbody tr', { hasText: 'smtp relay fixed' }).waitFor();
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('table', { name: 'Backlog per consumer' }).waitFor();
    expect(
      await page.locator('tr', { hasText: 'browser-crm' }).locator('td').nth(2).textContent(),
    ).toBe('3');
    expect(await page.locator('figure.chart').count()).toBe(3);
    // One line per consumer in each chart, and the summary for screen readers.
    expect(await page.locator('figure.chart polyline').count()).toBe(6);
    expect(
      await page
        .getByRole('img', { name: /Processed per minute\. browser-mailer: max 30/ })
        .count(),
    ).toBe(1);
    await page.screenshot({ path: artifact('admin-6-overview.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('without a token, or with a wrong one, the page shows "not authorized" and no data', async () => {
    for (const [name, suffix] of [
      ['no-token', ''],
      ['wrong-token', '#token=not-the-token'],
    ] as const) {
      const page = await browser.context.newPage();
      const answers: number[] = [];
      page.on('response', (response) => {
        if (response.url().includes('/admin/api/')) answers.push(response.status());
      });
      await page.goto(`${base}/admin${suffix}`);
      await page.locator('#status', { hasText: 'Not authorized' }).waitFor();
      expect(await page.locator('#login').isVisible()).toBe(true);
      expect(await page.locator('#view').innerHTML()).toBe('');
      expect(await page.content()).not.toContain('vault.opened');
      // No token: no request at all; a wrong one: every request refused.
      if (name === 'no-token') expect(answers).toEqual([]);
      else expect(answers.length > 0 && answers.every((status) => status === 401)).toBe(true);
      await page.screenshot({ path: artifact(`admin-7-${name}.png`), fullPage: true });
      await page.close();
    }
  });

  it('with the read-only token the data shows and a write action is refused (403)', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/admin#token=${READ_TOKEN}`);
    await page.getByLabel('Consumer').fill('browser-crm');
    await page.getByLabel('Consumer').press('Enter');
    await page.locator('#match-count', { hasText: /^3 matching/ }).waitFor();
    const link = page.locator('#view tbody tr a').first();
    const eventId = decodeURIComponent((await link.getAttribute('href'))!.replace('#/events/', ''));
    await link.click();
    const discard = page.getByRole('button', { name: 'Discard browser-crm' });
    await discard.click();
    const dialog = page.getByRole('dialog', { name: 'Discard for browser-crm' });
    // A discard needs a reason: an empty one is refused in the page.
    await dialog.getByRole('button', { name: 'Discard' }).click();
    await dialog.getByText('Give a reason').waitFor();
    await page.keyboard.type('no CRM for test vaults');
    await dialog.getByRole('button', { name: 'Discard' }).click();
    await dialog.getByText('Refused (403)').waitFor();
    await page.screenshot({ path: artifact('admin-8-read-only-refused.png'), fullPage: true });
    // Escape closes the dialog and gives the focus back to the button that opened it.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await page.evaluate("document.activeElement.getAttribute('aria-label')")).toBe(
      'Discard browser-crm',
    );
    expect(await statusOf(eventId, 'browser-crm')).toBe('dead_letter');
    expect(
      (
        await pool.query(
          "select count(*)::int as n from integration_audit where action = 'discard'",
        )
      ).rows[0].n,
    ).toBe(0);
    await page.close();
  });
});
