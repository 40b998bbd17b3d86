// The explorer (placeholder until its page lands).
import { connect } from '../index.js'
export { connect }
