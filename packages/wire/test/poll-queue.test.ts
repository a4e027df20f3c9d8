import { describe, expect, it } from 'vitest';
import { PollQueue } from '../src/poll-queue.js';

describe('PollQueue', () => {
  it('hands items out in order, and drained queues share nothing', () => {
    const a = new PollQueue<number>();
    const b = new PollQueue<number>();
    expect(a.take()).toBeNull();
    a.push(1);
    a.push(2);
    expect(b.length).toBe(0);
    expect(b.take()).toBeNull();
    expect(a.take()).toBe(1);
    expect(a.take()).toBe(2);
    expect(a.take()).toBeNull();
    // drained: the next burst starts afresh and stays its own
    b.push(3);
    expect(a.length).toBe(0);
    expect(a.take()).toBeNull();
    a.push(4);
    expect(a.take()).toBe(4);
    expect(b.take()).toBe(3);
    b.push(5);
    b.clear();
    expect(b.take()).toBeNull();
    expect(a.take()).toBeNull();
  });
});
