// Preloaded into Portkey's gateway by tests/bench/full.sh (node --import): the gateway
// listens on every interface when given only a port, and the benchmark stays on loopback.
import net from 'node:net';

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === 'number' && (args[1] === undefined || typeof args[1] === 'function')) {
        args.splice(1, args[1] === undefined ? 1 : 0, '127.0.0.1');
    }
    return listen.apply(this, args);
};
