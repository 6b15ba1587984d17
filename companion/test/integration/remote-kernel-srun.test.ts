/**
 * The remote-kernel suite through the srun relay (no ssh to the node at all): every cell, input(),
 * interrupt, restart, two kernels in one allocation, a dropped connection, and cancel.
 */
import './transports/srun';
import './remote-kernel.test';
