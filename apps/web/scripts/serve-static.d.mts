import type { Server } from 'node:http';
export function serveStatic(root: string): Promise<{ server: Server; url: string }>;
